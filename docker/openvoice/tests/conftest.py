import sys
from pathlib import Path

# The service's package lives beside the tests: make `app` importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

"""What the image must carry so that no language pip-installs or downloads at run time."""

from __future__ import annotations

import re
from pathlib import Path

from app.settings import LANGUAGES
from test_offline import image_packages

SERVICE = Path(__file__).resolve().parents[1]
DOCKERFILE = (SERVICE / "Dockerfile").read_text()

# Each language's front end at MeloTTS 2091453 (docs/models.md has the lines): the distributions
# its modules import, plus the tokenizers its BERT needs.
FRONT_ENDS = {
    # melo/text/english.py:4 g2p_en, english_utils/number_norm.py inflect
    "EN": {"g2p-en", "inflect", "nltk", "transformers"},
    # melo/text/japanese.py:12 MeCab over unidic-lite's dictionary, :15 num2words, :539 pykakasi;
    # the bert-base-japanese-v3 tokenizer runs fugashi over unidic-lite too
    "JP": {"mecab-python3", "unidic-lite", "fugashi", "pykakasi", "num2words", "transformers"},
    # melo/text/chinese_mix.py:4-5 cn2an, pypinyin, :10 the English g2p, :20 jieba
    "ZH": {"cn2an", "pypinyin", "jieba", "g2p-en", "transformers"},
    # melo/text/es_phonemizer/gruut_wrapper.py:4-5 gruut with its Spanish data
    "ES": {"gruut", "transformers"},
    # melo/text/fr_phonemizer/gruut_wrapper.py:4-5 gruut with its French data
    "FR": {"gruut", "transformers"},
    # melo/text/korean.py:11-14 num2words, anyascii, jamo, :57 g2pkk, whose G2p needs the `mecab`
    # module of python-mecab-ko (g2pkk.py:48-53 pip-installs it otherwise) and NLTK's cmudict
    "KR": {"g2pkk", "python-mecab-ko", "python-mecab-ko-dic", "jamo", "anyascii", "num2words", "nltk", "transformers"},
}
GRUUT_DATA = {"ES": "es", "FR": "fr"}


def test_every_language_has_its_front_end_in_requirements():
    assert set(FRONT_ENDS) == set(LANGUAGES), "a language without its front-end dependencies listed here"
    installed = image_packages()
    missing = {language: sorted(needs - installed) for language, needs in FRONT_ENDS.items() if needs - installed}
    assert missing == {}
    extras = re.search(r"^gruut\[([\w,]+)\]==", (SERVICE / "requirements.txt").read_text(), re.M)
    assert extras and set(GRUUT_DATA.values()) <= set(extras.group(1).split(","))


def test_the_download_that_only_watermarking_needs_is_not_installed():
    assert "wavmark" not in image_packages()


def test_mecab_finds_a_dictionary_that_needs_no_download():
    # MeCab/__init__.py:55-66 (mecab-python3 1.0.9) prefers `unidic`, whose dictionary exists only
    # after `python -m unidic download`; without it, unidic-lite's (in the wheel) is used.
    assert "unidic" not in image_packages() and "unidic-lite" in image_packages()
    assert "unidic download" not in DOCKERFILE


def test_data_the_libraries_would_fetch_at_run_time_is_fetched_at_build_time():
    # NLTK's tagger and cmudict (g2p_en, g2pkk), into the venv where NLTK looks (sys.prefix/nltk_data).
    nltk = re.search(r"python -m nltk\.downloader -d /opt/venv/nltk_data ([\w ]+)", DOCKERFILE)
    assert nltk and {"averaged_perceptron_tagger", "averaged_perceptron_tagger_eng", "cmudict"} <= set(nltk.group(1).split())


def test_silero_vad_is_vendored_at_a_pinned_commit_where_the_service_looks_for_it():
    commit = re.search(r"ARG SILERO_VAD_COMMIT=([0-9a-f]{40})\b", DOCKERFILE)
    assert commit, "silero-vad pinned to a 40-hex commit"
    assert re.search(r"git -C /opt/silero-vad checkout --quiet \$\{SILERO_VAD_COMMIT\}", DOCKERFILE)
    assert "COPY --from=build /opt/silero-vad /opt/silero-vad" in DOCKERFILE
    assert re.search(r"SILERO_VAD_DIR=/opt/silero-vad\b", DOCKERFILE)

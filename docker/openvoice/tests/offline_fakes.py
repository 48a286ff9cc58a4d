"""Stand-ins for the heavy libraries (torch, OpenVoice, MeloTTS, transformers, huggingface_hub...)
that are not installed here. Each fake reaches for the network exactly where the pinned upstream
code does (docs/models.md lists every place with file and line), and does nothing else, so a test
that runs the service over them with the network closed fails whenever the service's code paths
would download something.

`install(monkeypatch, image_packages)` puts them into sys.modules; `image_packages` are the
distribution names the image installs (requirements.txt), which decide what `find_spec` finds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import types
import urllib.request
from pathlib import Path

# melo/download_utils.py LANG_TO_HF_REPO_ID (MeloTTS 2091453), and each model's first speaker.
MELO_REPOS = {
    "EN_NEWEST": "myshell-ai/MeloTTS-English-v3",
    "JP": "myshell-ai/MeloTTS-Japanese",
    "ZH": "myshell-ai/MeloTTS-Chinese",
    "ES": "myshell-ai/MeloTTS-Spanish",
    "FR": "myshell-ai/MeloTTS-French",
    "KR": "myshell-ai/MeloTTS-Korean",
}
FIRST_SPEAKER = {"EN_NEWEST": "EN-Newest", "JP": "JP", "ZH": "ZH", "ES": "ES", "FR": "FR", "KR": "KR"}
# The BERT each front end loads: tokenizers at import of melo.text.cleaner, models at first use.
BERT_OF = {
    "EN": "bert-base-uncased",  # melo/text/english.py:189, english_bert.py:20
    "JP": "tohoku-nlp/bert-base-japanese-v3",  # melo/text/japanese.py:570, japanese_bert.py:21
    "ZH_MIX_EN": "bert-base-multilingual-uncased",  # melo/text/chinese_mix.py:100,199 (api.py:63: ZH runs as ZH_MIX_EN)
    "ES": "dccuchile/bert-base-spanish-wwm-uncased",  # melo/text/spanish.py:66, spanish_bert.py:20
    "FR": "dbmdz/bert-base-french-europeana-cased",  # melo/text/french.py:24, french_bert.py:20
    "KR": "kykim/bert-kor-base",  # melo/text/korean.py:95,143 (its model through japanese_bert.py:21)
}
WAVMARK_REPO = "M4869/WavMark"
FASTER_WHISPER_MEDIUM = "guillaumekln/faster-whisper-medium"
SILERO_MASTER = "~/.cache/torch/hub/snakers4_silero-vad_master"


class LocalEntryNotFoundError(FileNotFoundError):
    """huggingface_hub's answer, offline, for a file that is not in the cache."""


def _module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


def _network(what: str):
    """Every fake reaches the network through urllib, which the offline test closes."""
    return urllib.request.urlopen(what, timeout=5)


# --- huggingface_hub -------------------------------------------------------------------------


def hf_hub_download(repo_id, filename, revision=None, cache_dir=None, local_files_only=False, **_ignored):
    """The cache lookup of huggingface_hub: refs/<branch> names a commit, snapshots/<commit>/<file>."""
    cache = Path(cache_dir) if cache_dir else Path(os.environ["HF_HOME"]) / "hub"
    folder = cache / f"models--{repo_id.replace('/', '--')}"
    revision = revision or "main"
    ref = folder / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    path = folder / "snapshots" / commit / filename
    if path.is_file():
        return str(path)
    if local_files_only or os.environ.get("HF_HUB_OFFLINE") == "1":
        raise LocalEntryNotFoundError(f"{repo_id}/{filename}@{revision} is not in the cache {cache}")
    _network(f"https://huggingface.co/{repo_id}/resolve/{revision}/{filename}")
    raise AssertionError("unreachable: the download was allowed")


# --- transformers ----------------------------------------------------------------------------


def _optional(repo, filename):
    try:
        return hf_hub_download(repo, filename)
    except LocalEntryNotFoundError:
        return None  # transformers' cached_file returns None for a missing optional file


class AutoTokenizer:
    @staticmethod
    def from_pretrained(model_id, **_ignored):
        hf_hub_download(model_id, "vocab.txt")
        for name in ("tokenizer_config.json", "config.json", "tokenizer.json", "special_tokens_map.json", "added_tokens.json"):
            _optional(model_id, name)
        return types.SimpleNamespace(model_id=model_id)


class AutoModelForMaskedLM:
    @staticmethod
    def from_pretrained(model_id, **_ignored):
        hf_hub_download(model_id, "config.json")
        hf_hub_download(model_id, "pytorch_model.bin")
        return types.SimpleNamespace(model_id=model_id, to=lambda device: None)


# --- torch -----------------------------------------------------------------------------------


def _torch_load(path, map_location=None, weights_only=False):
    return Path(path).read_bytes()


def _torch_save(value, path):
    Path(path).write_bytes(value if isinstance(value, bytes) else repr(value).encode())


def _hub_load(repo_or_dir, model, source="github", **_ignored):
    """torch.hub.load: a local directory with a hubconf.py, or a download from GitHub."""
    if source == "local":
        if not (Path(repo_or_dir) / "hubconf.py").is_file():
            raise FileNotFoundError(f"no hubconf.py in {repo_or_dir}")
        return object(), (lambda audio, model, **kw: [{"start": 0, "end": 16000}],)
    _network(f"https://github.com/{repo_or_dir.split(':')[0]}/zipball/master")
    raise AssertionError("unreachable: the download was allowed")


def make_torch():
    return _module(
        "torch",
        load=_torch_load,
        save=_torch_save,
        cuda=types.SimpleNamespace(is_available=lambda: False),
        hub=types.SimpleNamespace(load=_hub_load),
    )


# --- whisper-timestamped, faster-whisper, wavmark -------------------------------------------


def get_vad_segments(audio, method="silero", **_ignored):
    """whisper_timestamped/transcribe.py:1843-1897 (v1.14.2): unless the module already holds a
    silero model, it loads one from ~/.cache/torch/hub/snakers4_silero-vad_master when that
    folder exists, else from GitHub."""
    module = sys.modules["whisper_timestamped.transcribe"]
    if module._silero_vad_model is None:
        repo_or_dir = os.path.expanduser(SILERO_MASTER)
        source = "local"
        if not os.path.exists(repo_or_dir):
            repo_or_dir, source = "snakers4/silero-vad", "github"
        model, utils = sys.modules["torch"].hub.load(repo_or_dir=repo_or_dir, model="silero_vad", source=source)
        module._silero_vad_model, module._silero_get_speech_ts = model, utils[0]
    return module._silero_get_speech_ts(audio, module._silero_vad_model)


class WhisperModel:
    """faster_whisper/utils.py download_model: a size name is a Hugging Face repository."""

    def __init__(self, size, **_ignored):
        hf_hub_download(FASTER_WHISPER_MEDIUM if size == "medium" else size, "model.bin")


def wavmark_load_model():
    """wavmark/__init__.py load_model: the default model from the Hugging Face Hub."""
    path = hf_hub_download(WAVMARK_REPO, "step59000_snr39.99_pesq4.35_BERP_none0.30_mean1.81_std1.81.model.pkl")
    return types.SimpleNamespace(path=path, to=lambda device: None)


# --- OpenVoice -------------------------------------------------------------------------------


class ToneColorConverter:
    """openvoice/api.py:102-109 (74a1d14): WavMark unless enable_watermark=False."""

    def __init__(self, config_path, device="cuda:0", enable_watermark=True):
        Path(config_path).read_text()
        self.device = device
        self.watermark_model = wavmark_load_model() if enable_watermark else None

    def load_ckpt(self, path):
        sys.modules["torch"].load(path, map_location=self.device)

    def convert(self, audio_src_path, src_se, tgt_se, output_path=None, **_ignored):
        Path(output_path).write_bytes(b"RIFF" + Path(audio_src_path).read_bytes()[4:])


def get_se(audio_path, vc_model, target_dir="processed", vad=True):
    """openvoice/se_extractor.py:129-146: silero VAD when vad=True, else faster-whisper medium."""
    if vad:
        get_vad_segments(audio_path, method="silero")
    else:
        WhisperModel("medium", device="cuda", compute_type="float16")
    return b"tone colour of " + Path(audio_path).read_bytes()[:8], "name"


# --- MeloTTS and its front ends --------------------------------------------------------------


class _FrontEnds:
    """melo/text/cleaner.py:1 imports every language module; each loads its BERT tokenizer."""

    loaded = False

    @classmethod
    def import_cleaner(cls):
        if not cls.loaded:
            for model_id in BERT_OF.values():
                AutoTokenizer.from_pretrained(model_id)
            cls.loaded = True


def _korean_g2p(image_packages):
    """g2pkk/g2pkk.py:47-53 (0.1.2): pip-installs python-mecab-ko when `mecab` is missing."""
    if importlib.util.find_spec("mecab") is None and "python-mecab-ko" not in image_packages:
        subprocess.Popen([sys.executable, "-m", "pip", "install", "python-mecab-ko"]).wait()


def make_melo(image_packages):
    class TTS:
        """melo/api.py:36,59 (config and checkpoint from the hub), 62-63 (ZH runs as ZH_MIX_EN)."""

        def __init__(self, language, device="auto", use_hf=True):
            repo = MELO_REPOS[language]
            json.loads(Path(hf_hub_download(repo, "config.json")).read_text())
            hf_hub_download(repo, "checkpoint.pth")
            _FrontEnds.import_cleaner()
            base = language.split("_")[0]
            self.language = "ZH_MIX_EN" if base == "ZH" else base
            self.hps = types.SimpleNamespace(data=types.SimpleNamespace(spk2id={FIRST_SPEAKER[language]: 0}))

        def tts_to_file(self, text, speaker_id, output_path, speed=1.0, **_ignored):
            if self.language == "KR":
                _korean_g2p(image_packages)
            # melo/text/__init__.py:23-34: the language's BERT at first use.
            AutoModelForMaskedLM.from_pretrained(BERT_OF[self.language])
            Path(output_path).write_bytes(b"RIFF" + text.encode())

    return _module("melo.api", TTS=TTS)


# --- librosa ---------------------------------------------------------------------------------


class _Samples(list):
    def __abs__(self):
        return _Samples(abs(v) for v in self)

    def max(self):
        return max(self)


def librosa_load(path, sr=16000, mono=True):
    data = Path(path).read_bytes()
    return _Samples([0.5] * (2 * sr) if data else []), sr


def install(monkeypatch, image_packages) -> None:
    _FrontEnds.loaded = False
    transcribe = _module("whisper_timestamped.transcribe", get_vad_segments=get_vad_segments, _silero_vad_model=None)
    openvoice_api = _module("openvoice.api", ToneColorConverter=ToneColorConverter)
    se_extractor = _module("openvoice.se_extractor", get_se=get_se)
    melo_api = make_melo(image_packages)
    modules = {
        "torch": make_torch(),
        "huggingface_hub": _module("huggingface_hub", hf_hub_download=hf_hub_download),
        "transformers": _module(
            "transformers", AutoTokenizer=AutoTokenizer, AutoModelForMaskedLM=AutoModelForMaskedLM
        ),
        "wavmark": _module("wavmark", load_model=wavmark_load_model),
        "faster_whisper": _module("faster_whisper", WhisperModel=WhisperModel),
        # whisper_timestamped/__init__.py:8 (v1.14.2) binds the package's `transcribe` to a function,
        # so only sys.modules reaches the module whose globals cache the silero model.
        "whisper_timestamped": _module("whisper_timestamped", transcribe=lambda *args, **kwargs: None),
        "whisper_timestamped.transcribe": transcribe,
        "openvoice": _module("openvoice", api=openvoice_api, se_extractor=se_extractor),
        "openvoice.api": openvoice_api,
        "openvoice.se_extractor": se_extractor,
        "melo": _module("melo", api=melo_api),
        "melo.api": melo_api,
        "librosa": _module("librosa", load=librosa_load),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)

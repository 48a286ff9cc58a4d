"""The inference engine behind the HTTP service: OpenVoice V2 tone colour conversion over MeloTTS.

The service talks to the Engine protocol only, so its tests run with a fake engine and no GPU;
torch, OpenVoice and MeloTTS are imported when the real engine loads, not at import time.
"""

from __future__ import annotations

import functools
import importlib
import os
from pathlib import Path
from typing import Optional, Protocol

from .settings import LANGUAGES

# Where the image vendors silero-vad (a torch.hub repository at a pinned commit, Dockerfile).
DEFAULT_VAD_DIR = Path("/opt/silero-vad")
# Shorter than this, or quieter than this peak (of full scale), is no voice to clone.
MIN_REFERENCE_SECONDS = 1.0
MIN_REFERENCE_PEAK = 1e-3


class UnusableAudio(ValueError):
    """The reference recording cannot be cloned (not audio, silent, too short): the input's fault."""


class Engine(Protocol):
    def gpu_visible(self) -> bool: ...

    def loaded(self) -> bool: ...

    def load(self, checkpoints: Path) -> None: ...

    def extract_voice(self, reference: Path, embedding_out: Path) -> None:
        """Writes the tone colour embedding of the reference recording; UnusableAudio if it has none."""

    def synthesize(self, text: str, language: str, embedding: Path, wav_out: Path, speed: float) -> None:
        """Writes a WAV of `text` spoken in `language` with the profile's tone colour."""


def audio_problem(duration_s: float, peak: float) -> Optional[str]:
    """Why decoded audio cannot be a voice reference, or None."""
    if duration_s < MIN_REFERENCE_SECONDS:
        return f"the reference is {duration_s:.2f} s long; at least {MIN_REFERENCE_SECONDS:.0f} s of speech is needed"
    if peak < MIN_REFERENCE_PEAK:
        return "the reference is silent"
    return None


def force_weights_only(torch_module) -> None:
    """Makes every torch.load in this process refuse pickled code (weights_only=True), including the
    calls inside OpenVoice, MeloTTS and transformers, which do not ask for it themselves."""
    original = getattr(torch_module.load, "__wrapped__", torch_module.load)

    @functools.wraps(original)
    def load(*args, **kwargs):
        kwargs["weights_only"] = True
        return original(*args, **kwargs)

    torch_module.load = load


def preload_vad(torch_module, vad_dir: Path) -> None:
    """Loads silero-vad from the copy in the image into whisper-timestamped's module cache, so its
    get_vad_segments (called by OpenVoice's se_extractor) never reaches torch.hub's GitHub source."""
    if not (vad_dir / "hubconf.py").is_file():
        raise FileNotFoundError(f"silero-vad is not in the image at {vad_dir} (SILERO_VAD_DIR); voice cloning needs it")
    # The module, not the package attribute of the same name (a function there).
    transcribe = importlib.import_module("whisper_timestamped.transcribe")
    model, utils = torch_module.hub.load(repo_or_dir=str(vad_dir), model="silero_vad", source="local", onnx=False)
    transcribe._silero_vad_model = model
    transcribe._silero_get_speech_ts = utils[0]


class OpenVoiceEngine:
    """The real engine on the T4 (CUDA 11.8 wheels of PyTorch)."""

    def __init__(self, vad_dir: Optional[Path] = None) -> None:
        self._vad_dir = vad_dir or Path(os.environ.get("SILERO_VAD_DIR", str(DEFAULT_VAD_DIR)))
        self._converter = None
        self._tts: dict[str, object] = {}
        self._checkpoints: Path | None = None
        self._gpu: Optional[bool] = None

    def gpu_visible(self) -> bool:
        if self._gpu is None:
            import torch

            self._gpu = bool(torch.cuda.is_available())
        return self._gpu

    def loaded(self) -> bool:
        return self._converter is not None

    def load(self, checkpoints: Path) -> None:
        import torch

        force_weights_only(torch)
        from openvoice.api import ToneColorConverter

        device = "cuda:0" if torch.cuda.is_available() else "cpu"
        # The watermark model (WavMark) would come from the Hugging Face Hub at every load; the
        # service marks nothing, so it is neither loaded nor installed.
        converter = ToneColorConverter(
            str(checkpoints / "converter" / "config.json"), device=device, enable_watermark=False
        )
        converter.load_ckpt(str(checkpoints / "converter" / "checkpoint.pth"))
        preload_vad(torch, self._vad_dir)
        self._device = device
        self._checkpoints = checkpoints
        self._converter = converter

    def _base(self, language: str):
        from melo.api import TTS

        if language not in self._tts:
            self._tts[language] = TTS(language=LANGUAGES[language], device=self._device)
        return self._tts[language]

    def extract_voice(self, reference: Path, embedding_out: Path) -> None:
        import tempfile

        import librosa
        import torch
        from openvoice import se_extractor

        try:
            samples, rate = librosa.load(str(reference), sr=16000, mono=True)
        except Exception as error:  # any decoder failure means the upload is not audio we can read
            raise UnusableAudio(f"the reference is not audio the service can read ({type(error).__name__})") from error
        problem = audio_problem(len(samples) / rate, float(abs(samples).max()) if len(samples) else 0.0)
        if problem:
            raise UnusableAudio(problem)
        # get_se writes its audio segments under target_dir (default: ./processed, not writable).
        with tempfile.TemporaryDirectory() as scratch:
            try:
                embedding, _ = se_extractor.get_se(str(reference), self._converter, target_dir=scratch, vad=True)
            except AssertionError as error:  # se_extractor asserts when voice activity finds no speech
                raise UnusableAudio(f"no speech found in the reference ({error})") from error
        torch.save(embedding, str(embedding_out))

    def synthesize(self, text: str, language: str, embedding: Path, wav_out: Path, speed: float) -> None:
        import torch

        assert self._checkpoints is not None, "engine not loaded"
        tts = self._base(language)
        # Each MeloTTS model's first speaker (EN-Newest, JP, ZH, ...) has its tone colour in
        # base_speakers/ses/<name>.pth of the OpenVoice V2 checkpoints.
        speaker_key = next(iter(tts.hps.data.spk2id))
        speaker_id = tts.hps.data.spk2id[speaker_key]
        base_se_name = speaker_key.lower().replace("_", "-")
        # weights_only: a profile on the shared file system is data, never code.
        source_se = torch.load(
            str(self._checkpoints / "base_speakers" / "ses" / f"{base_se_name}.pth"),
            map_location=self._device,
            weights_only=True,
        )
        target_se = torch.load(str(embedding), map_location=self._device, weights_only=True)
        base_wav = wav_out.with_suffix(".base.wav")
        try:
            tts.tts_to_file(text, speaker_id, str(base_wav), speed=speed)
            self._converter.convert(
                audio_src_path=str(base_wav), src_se=source_se, tgt_se=target_se, output_path=str(wav_out)
            )
        finally:
            if base_wav.exists():
                os.unlink(base_wav)

"""The inference engine behind the HTTP service: OpenVoice V2 tone colour conversion over MeloTTS.

The service talks to the Engine protocol only, so its tests run with a fake engine and no GPU;
torch, OpenVoice and MeloTTS are imported when the real engine loads, not at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from .settings import LANGUAGES


class Engine(Protocol):
    def gpu_visible(self) -> bool: ...

    def loaded(self) -> bool: ...

    def load(self, checkpoints: Path) -> None: ...

    def extract_voice(self, reference: Path, embedding_out: Path) -> None:
        """Writes the tone colour embedding of the reference recording."""

    def synthesize(self, text: str, language: str, embedding: Path, wav_out: Path, speed: float) -> None:
        """Writes a WAV of `text` spoken in `language` with the profile's tone colour."""


class OpenVoiceEngine:
    """The real engine on the T4 (CUDA 11.8 wheels of PyTorch)."""

    def __init__(self) -> None:
        self._converter = None
        self._tts: dict[str, object] = {}
        self._checkpoints: Path | None = None

    def gpu_visible(self) -> bool:
        import torch

        return bool(torch.cuda.is_available())

    def loaded(self) -> bool:
        return self._converter is not None

    def load(self, checkpoints: Path) -> None:
        import torch
        from openvoice.api import ToneColorConverter

        device = "cuda:0" if torch.cuda.is_available() else "cpu"
        converter = ToneColorConverter(str(checkpoints / "converter" / "config.json"), device=device)
        converter.load_ckpt(str(checkpoints / "converter" / "checkpoint.pth"))
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

        import torch
        from openvoice import se_extractor

        # get_se writes its audio segments under target_dir (default: ./processed, not writable).
        with tempfile.TemporaryDirectory() as scratch:
            embedding, _ = se_extractor.get_se(str(reference), self._converter, target_dir=scratch, vad=True)
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
        source_se = torch.load(
            str(self._checkpoints / "base_speakers" / "ses" / f"{base_se_name}.pth"), map_location=self._device
        )
        target_se = torch.load(str(embedding), map_location=self._device)
        base_wav = wav_out.with_suffix(".base.wav")
        try:
            tts.tts_to_file(text, speaker_id, str(base_wav), speed=speed)
            self._converter.convert(
                audio_src_path=str(base_wav), src_se=source_se, tgt_se=target_se, output_path=str(wav_out)
            )
        finally:
            if base_wav.exists():
                os.unlink(base_wav)

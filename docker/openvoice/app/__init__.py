"""OpenVoice V2 inference service of gpu-fleet (voice profiles and speech synthesis on port 8001)."""

// Kept apart from the simulator so `gpu-manage --help` can show the default without loading it.

/**
 * A burst worker's cold launch-to-ready time, estimated (no account here to measure it): EC2
 * pending ≈ 30–60 s; the AL2023 DLAMI booting to its user data ≈ 60–90 s (its root snapshot loads
 * lazily from S3, so first reads are slow); pulling and unpacking the OpenVoice image (CUDA 11.8 base +
 * the PyTorch 2.1.2 cu118 wheels, ≈ 3 GB compressed, ≈ 6–7 GB on disk; see docker/openvoice) and
 * the worker's from ECR onto a fresh gp3 volume (125 MB/s baseline, single-threaded gunzip)
 * ≈ 120–180 s; checking every model's sha256 on EFS, loading them and warming CUDA ≈ 45–60 s. Sum ≈ 4.5–6.5
 * minutes: 360 s. Measure it in a real account (`gpu-manage status` shows launch and ready times).
 */
export const DEFAULT_BURST_READY_DELAY_S = 360;

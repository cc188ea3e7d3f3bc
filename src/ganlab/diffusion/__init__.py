"""Diffusion and flow matching: what the denoiser learns (``objectives``), how images are drawn
from it (``samplers``) and classifier-free guidance (``guidance``). Torch is imported only where
a training example is built, so the ONNX runtime samples with the same code."""

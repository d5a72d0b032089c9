"""`python -m bench.gpucheck`: an offline correctness and speed check of tts_core on a CUDA GPU.

`prepare DIR` runs where the voice and espeak-ng are installed: it phonemizes the check texts to ids and
writes the voice's weights (fp16-rounded), its config, CPU fp32 reference audio and a manifest into DIR.
`run DIR` runs on the GPU machine with only torch, numpy, scipy and the bundle: no espeak, no voice
package, no hydra. This package imports no other `bench` module.
"""

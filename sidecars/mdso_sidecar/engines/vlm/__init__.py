"""Vision-language OCR models of the Qwen2.5-VL family (Nanonets-OCR-s, olmOCR...): one runtime
(runtime.VlmEngine) that loads the model once and reads pages through a backend (in-process
transformers, or an OpenAI-compatible server such as vLLM), and one small profile per model
(profile.VlmProfile: weights, prompt, resolution, generation limits, post-processing).
"""

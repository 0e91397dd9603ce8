"""In-process backend: the model loaded with transformers from a local directory (bf16 on CUDA, float32
on CPU), prompts built with the checkpoint's own chat template, only the new tokens decoded.

The Qwen2.5-VL processor class is not used: it insists on a video processor that needs torchvision,
which we do not install. What it does for one image is small and done here: apply the chat template,
run the (PIL) image processor, and expand the image placeholder to one token per merged patch.

A model whose architecture transformers does not have (dots.ocr) is loaded with the modelling code
that ships beside its weights (trust_remote_code, from the local directory only; the profile says so),
through the auto class its config registers. transformers copies that code into a modules cache
before importing it: HF_MODULES_CACHE, or a directory of the system temp dir when unset (the
service's home may be read-only).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from ...errors import EngineUnavailable
from ...log import get_logger
from .backend import Backend, BackendOutOfMemory, ChatRequest, FinishReason, Generation
from .config import VlmSettings

log = get_logger(__name__)


def _chat_template(path: Path, tokenizer: Any) -> str | None:
    """The checkpoint's chat template: chat_template.jinja, chat_template.json (processor), else the
    tokenizer's own."""
    jinja = path / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    as_json = path / "chat_template.json"
    if as_json.is_file():
        template = json.loads(as_json.read_text()).get("chat_template")
        if isinstance(template, str):
            return template
    template = getattr(tokenizer, "chat_template", None)
    return template if isinstance(template, str) else None


def remote_code_missing(path: Path, model_class: str) -> str | None:
    """Why the modelling code of a remote-code checkpoint cannot be loaded from `path` (config.json's
    auto_map names the module of each class; each must lie beside the weights), or None."""
    try:
        config = json.loads((path / "config.json").read_text())
        auto_map = config.get("auto_map") or {}
    except (OSError, ValueError, AttributeError):
        return "config.json is not readable JSON"
    if not isinstance(auto_map, dict) or model_class not in auto_map:
        return f"config.json names no modelling code for {model_class} (auto_map)"
    modules = {str(reference).split(".")[0] for reference in auto_map.values() if isinstance(reference, str)}
    missing = sorted(f"{module}.py" for module in modules if not (path / f"{module}.py").is_file())
    return f"missing {', '.join(missing)}" if missing else None


class TransformersBackend(Backend):
    concurrent = False

    def __init__(
        self,
        path: Path,
        settings: VlmSettings,
        *,
        remote_code: bool = False,
        model_class: str = "AutoModelForImageTextToText",
    ) -> None:
        self.path = path
        self.settings = settings
        self.remote_code = remote_code
        self.model_class = model_class
        self._device = "cpu"
        self._dtype = "float32"
        self._attention = "sdpa"
        self._lock = threading.Lock()
        self.torch: Any = None
        self.model: Any = None
        self.tokenizer: Any = None
        self.image_processor: Any = None
        self.chat_template = ""
        self.image_token = ""
        self.image_token_id = -1
        self.eos_ids: set[int] = set()
        self._wants_mm_token_types = False

    def describe(self) -> str:
        return f"transformers, {self._dtype}, {self._attention}"

    def device(self) -> str:
        return self._device

    def load(self) -> None:
        if self.remote_code:
            problem = remote_code_missing(self.path, self.model_class)
            if problem is not None:
                raise EngineUnavailable(
                    f"the model directory {self.path} is incomplete: its modelling code ships with the "
                    f"weights and {problem}; download it again (scripts/download-models), or serve the "
                    f"model with vLLM ({self.settings.prefix}_BACKEND=openai)"
                )
        if self.remote_code and not os.environ.get("HF_MODULES_CACHE"):
            # Read by transformers when it is imported (below).
            modules = Path(tempfile.gettempdir()) / f"mdso-hf-modules-{os.getuid()}"
            os.environ["HF_MODULES_CACHE"] = str(modules)
        # Typed as Any: the code targets the pinned transformers and the previous major version.
        try:
            torch: Any = importlib.import_module("torch")
            transformers: Any = importlib.import_module("transformers")
        except ImportError as exc:
            raise EngineUnavailable(
                f"the Python package {exc.name or exc} is not installed in this environment; install "
                f"the VLM requirements: {self.settings.install}"
            ) from None
        self.torch = torch
        transformers.utils.logging.disable_progress_bar()  # stderr carries our JSON log lines only
        cfg = self.settings
        cuda = torch.cuda.is_available()
        if cfg.device == "cuda" and not cuda:
            raise EngineUnavailable(
                "device cuda requested but torch sees no CUDA GPU (driver, CUDA_VISIBLE_DEVICES, or a CPU "
                f"build of torch); unset {cfg.prefix}_DEVICE to run on the CPU (slow)"
            )
        use_cuda = cuda and cfg.device != "cpu"
        self._device = "cuda:0" if use_cuda else "cpu"
        dtype = torch.bfloat16 if use_cuda else torch.float32
        self._dtype = "bf16" if use_cuda else "float32"
        if use_cuda and cfg.gpu_memory_fraction is not None:
            torch.cuda.set_per_process_memory_fraction(cfg.gpu_memory_fraction, 0)
        self._attention = self._pick_attention(use_cuda)

        load_kwargs: dict[str, Any] = {"local_files_only": True}
        if self.remote_code:
            load_kwargs["trust_remote_code"] = True
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.path, **load_kwargs)
        # The PIL image processor: the torchvision one needs a package we do not install.
        if int(transformers.__version__.split(".")[0]) >= 5:
            processor_kwargs: dict[str, Any] = {"backend": "pil"}
        else:
            processor_kwargs = {"use_fast": False}
        image_processors = transformers.AutoImageProcessor
        self.image_processor = image_processors.from_pretrained(self.path, **load_kwargs, **processor_kwargs)
        template = _chat_template(self.path, self.tokenizer)
        if not template:
            raise EngineUnavailable(
                f"no chat template in {self.path} (chat_template.jinja/.json or tokenizer_config.json); "
                "the model directory is incomplete: download it again"
            )
        self.chat_template = template
        auto_class = getattr(transformers, self.model_class)
        try:
            model = auto_class.from_pretrained(
                self.path, dtype=dtype, attn_implementation=self._attention, **load_kwargs
            )
        except ImportError as exc:
            # The checkpoint's own modelling code imports a package we do not install.
            raise EngineUnavailable(
                f"the modelling code of {self.path} needs a Python package that is not installed "
                f"({exc}); install it into the service's environment, or serve the model with vLLM "
                f"({cfg.prefix}_BACKEND=openai)"
            ) from None
        self.model = model.to(self._device).eval()
        config = self.model.config
        self.image_token_id = int(config.image_token_id)
        self.image_token = str(self.tokenizer.convert_ids_to_tokens(self.image_token_id))
        eos = self.model.generation_config.eos_token_id
        eos_list = eos if isinstance(eos, list) else [eos]
        self.eos_ids = {int(token) for token in eos_list if token is not None}
        if self.tokenizer.eos_token_id is not None:
            self.eos_ids.add(int(self.tokenizer.eos_token_id))
        # transformers 5 computes Qwen2.5-VL's 3D rope positions from per-token modality types.
        self._wants_mm_token_types = "mm_token_type_ids" in inspect.signature(self.model.forward).parameters
        log.info(
            "model loaded",
            extra={
                "path": str(self.path),
                "device": self._device,
                "dtype": self._dtype,
                "attention": self._attention,
            },
        )

    def _pick_attention(self, use_cuda: bool) -> str:
        wanted = self.settings.attention
        has_flash = importlib.util.find_spec("flash_attn") is not None
        if wanted == "flash_attention_2" and not (use_cuda and has_flash):
            raise EngineUnavailable(
                "flash_attention_2 requested but "
                + ("the flash_attn package is not installed" if use_cuda else "the model runs on the CPU")
                + f"; unset {self.settings.prefix}_ATTENTION to use sdpa"
            )
        if wanted == "auto":
            return "flash_attention_2" if use_cuda and has_flash else "sdpa"
        return wanted

    def encode(self, request: ChatRequest) -> dict[str, Any]:
        """Model inputs for one page, as the Qwen2.5-VL processor would build them."""
        messages = request.messages({"type": "image"})
        text = self.tokenizer.apply_chat_template(
            messages, chat_template=self.chat_template, tokenize=False, add_generation_prompt=True
        )
        found = text.count(self.image_token)
        if found != 1:
            raise RuntimeError(f"the chat template produced {found} image placeholders, expected 1")
        features = self.image_processor(images=[request.image.convert("RGB")], return_tensors="pt")
        grid = features["image_grid_thw"]
        merge = int(getattr(self.image_processor, "merge_size", 2))
        count = int(grid[0].prod().item()) // (merge * merge)
        text = text.replace(self.image_token, self.image_token * count)
        encoded = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)
        inputs: dict[str, Any] = {
            "input_ids": encoded["input_ids"],
            "attention_mask": encoded["attention_mask"],
            "pixel_values": features["pixel_values"],
            "image_grid_thw": grid,
        }
        if self._wants_mm_token_types:
            inputs["mm_token_type_ids"] = (encoded["input_ids"] == self.image_token_id).int()
        return inputs

    def run(self, inputs: dict[str, Any], request: ChatRequest) -> Any:
        """model.generate over prepared inputs; the generated ids (prompt included)."""
        sampling: dict[str, Any]
        if request.temperature > 0:
            sampling = {"do_sample": True, "temperature": request.temperature, "top_p": 1.0, "top_k": 0}
        else:
            sampling = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        with self.torch.inference_mode():
            return self.model.generate(
                **inputs, max_new_tokens=request.max_new_tokens, repetition_penalty=None, **sampling
            )

    def generate(self, request: ChatRequest) -> Generation:
        torch = self.torch
        with self._lock:
            try:
                inputs = {key: value.to(self._device) for key, value in self.encode(request).items()}
                if "pixel_values" in inputs:
                    inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
                output = self.run(inputs, request)
                prompt_length = int(inputs["input_ids"].shape[1])
                new_ids = output[0, prompt_length:].tolist()
            except torch.cuda.OutOfMemoryError:
                # The traceback's frames hold the activations: drop them before releasing the cache.
                inputs = {}
                output = None
                torch.cuda.empty_cache()
                raise BackendOutOfMemory from None
        ended = bool(new_ids) and new_ids[-1] in self.eos_ids
        finish: FinishReason = "length" if len(new_ids) >= request.max_new_tokens and not ended else "stop"
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        return Generation(text=text, finish_reason=finish)

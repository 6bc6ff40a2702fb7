"""The model runtime: an onnxruntime session that turns batches of L* into batches of ab.

The one door to onnxruntime. Provider choice (:mod:`.providers`): ``auto`` tries TensorRT, then
CUDA, then the CPU; after the session is built the runner checks which provider really runs.
A provider asked for by name that cannot start is an error; ``auto`` that ends on the CPU on a
machine with an NVIDIA driver logs one warning (logger ``streamcolor``) with the reason.
onnxruntime's own log lines are silenced and its fallback is disabled at creation and at run
time (:func:`.providers.open_session`), so a provider that fails to start or fails mid-run is
an error naming the provider and onnxruntime's reason (``auto`` moves on to the next provider
itself, and its warning keeps that reason).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import threading

import numpy as np

from ..contract import DEFAULT_INPUT_SIZE, ModelContract
from ..errors import ModelError, ProviderUnavailableError, describe
from . import libraries, providers
from . import threads as thread_plan
from .binding import BoundSession
from .precision import choose as choose_precision
from .providers import PROVIDERS, missing_gpu_part, short_name

__all__ = ["ModelRunner", "PROVIDERS", "DEFAULT_MODEL", "PRECISIONS", "resolve_model_path"]

log = logging.getLogger("streamcolor")
_missing_gpu_part = missing_gpu_part  # the name the GPU tests use
PRECISIONS = ("auto", "fp32", "fp16", "int8")
# onnxruntime's errors that mean the model file, not the provider (pybind11_state's names)
_MODEL_ERRORS = ("InvalidProtobuf", "NoSuchFile", "InvalidGraph", "InvalidArgument",
                 "NotImplemented")

# streamcolor's own model, trained by this project and shipped with the package.
DEFAULT_MODEL = pathlib.Path(__file__).parent.parent / "weights" / "streamcolor-compact.onnx"


def resolve_model_path(spec: str | os.PathLike | None) -> pathlib.Path:
    """The ONNX file for ``--model``: a path, a name from the model registry, or (None) the
    bundled default model."""
    if spec is None:
        if DEFAULT_MODEL.is_file():
            return DEFAULT_MODEL
        raise ModelError(
            "no model given and the default model is not installed: pass --model PATH.onnx "
            "or a name from `streamcolor models list`"
        )
    path = pathlib.Path(spec).expanduser()
    if path.suffix.lower() == ".onnx" or path.exists() or os.sep in str(spec):
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        return path
    from .. import zoo  # the registry is only needed for names

    return zoo.resolve_model(str(spec))


class ModelRunner:
    """A loaded model: ``run(lightness)`` maps (N,1,S,S) L* to (N,2,s,s) ab."""

    def __init__(
        self,
        model: str | os.PathLike | None,
        *,
        provider: str = "auto",
        threads: int = 0,
        cache_dir: str | os.PathLike | None = None,
        precision: str = "auto",
        max_batch: int = 32,
        io_binding: bool | None = None,
        frame_graphs: bool | None = None,
    ) -> None:
        """Load ``model`` (a path or registry name) on ``provider``. ``cache_dir`` keeps
        TensorRT engines (default: the user cache); ``precision`` auto/fp16 builds TensorRT
        engines in fp16; ``max_batch`` is the largest batch a TensorRT profile covers;
        ``io_binding`` (default: on GPU providers) runs through preallocated device buffers;
        ``frame_graphs`` (default: on GPU providers) runs the per-frame colour math as ONNX
        graphs on the model's provider."""
        import onnxruntime as ort

        if precision not in PRECISIONS:
            raise ModelError(f"unknown precision {precision!r}: choose {', '.join(PRECISIONS)}")
        self.source = resolve_model_path(model)
        self.requested, self.warning, self._start_error = provider, None, None
        names = providers.choose(provider, ort.get_available_providers())
        self._use(choose_precision(self.source, precision, names[0]))
        self._session = self._open_first(ort, names, threads, cache_dir, max_batch)
        self.provider = self._check(names, ort.get_available_providers())
        if self.provider != names[0]:  # auto ended elsewhere: the file for where it runs
            choice = choose_precision(self.source, precision, self.provider)
            if choice.path != self.path:
                self._use(choice)
                rest = names[names.index(self.provider):]
                self._session = self._open(ort, rest, threads, cache_dir, max_batch)
        meta = self._session.get_modelmeta().custom_metadata_map
        try:
            self.contract = ModelContract.from_metadata(meta)
        except ValueError as error:
            raise ModelError(f"model {self.path} has a bad contract: {error}") from error
        self._bind_io()
        self._bound = None
        if io_binding or (io_binding is None and self.provider != "cpu"):
            self._bound = BoundSession(self._session, self.input_name, self.output_name,
                                       device="cpu" if self.provider == "cpu" else "cuda")
        self.frame_graphs = self._frame_graphs(frame_graphs, threads)
        self.in_flight = 1 if self.provider == "cpu" else 2  # batches the pipeline overlaps
        # GPU: pad batches to a few sizes, so that cuDNN's algorithm search and the bound
        # buffers see a few shapes, not one per partial (live) batch
        self.pad_to = None if self.provider == "cpu" or self.fixed_batch else \
            batch_sizes(max_batch)
        self._warmed, self._warm_batch = threading.local(), self.fixed_batch or max_batch
        if self.provider != "cpu":  # lazy allocation and engine builds before the first frame
            self.warm_thread()

    def _use(self, choice) -> None:
        self.path, self.precision = choice.path, choice.precision
        self._tensorrt_fp16 = choice.tensorrt_fp16

    @classmethod
    def for_config(cls, config) -> ModelRunner:
        """The runner a :class:`~streamcolor.config.ModelConfig` describes; TensorRT profiles
        cover batches 1..``config.batch_size``."""
        return cls(config.model, provider=config.provider, threads=config.threads,
                   precision=config.precision, max_batch=config.batch_size,
                   frame_graphs=config.frame_graphs)

    def _open_first(self, ort, names: list[str], threads: int, cache_dir, max_batch: int):
        """The session on ``names``; where creating it fails, ``auto`` moves on to the next
        provider (keeping the reason for its warning) and a provider asked by name is an
        error with onnxruntime's reason."""
        for start, name in enumerate(names):
            try:
                return self._open(ort, names[start:], threads, cache_dir, max_batch)
            except ProviderUnavailableError as error:
                if self.requested != "auto" or name == "cpu":
                    raise
                self._start_error = self._start_error or str(error)
        raise AssertionError("unreachable: the CPU is last and raises")  # pragma: no cover

    def _open(self, ort, names: list[str], threads: int, cache_dir, max_batch: int):
        options = ort.SessionOptions()
        # the run's thread budget (:mod:`.threads`); the user's ``threads`` wins
        self.threads = thread_plan.plan(provider=names[0], threads=threads)
        options.intra_op_num_threads = self.threads.inference
        if not self.threads.spin:  # idle pool threads would take the encoder's core
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        # onnxruntime's raw log lines stay out of the user's way (reasons are ours: see
        # providers.diagnose), unless streamcolor's own logger is at debug level (--debug).
        ort.set_default_logger_severity(1 if log.isEnabledFor(logging.DEBUG) else 4)
        entries, engines = [], None
        for name in names:
            if name == "tensorrt":
                trt = self._tensorrt_options(ort, cache_dir, max_batch)
                engines = pathlib.Path(trt["trt_engine_cache_path"])
                entries.append((PROVIDERS[name], trt))
            else:
                entries.append(PROVIDERS[name])
        try:  # one engine build per cache, however many workers start at once
            with providers.build_lock(engines) if engines else contextlib.nullcontext():
                return providers.open_session(ort, str(self.path), options, entries)
        except Exception as error:  # onnxruntime raises several unrelated types
            if names[0] == "cpu" or type(error).__name__ in _MODEL_ERRORS:
                raise ModelError(f"cannot load model {self.path}: {describe(error)}") from error
            raise ProviderUnavailableError(
                f"provider {names[0]!r} failed to start: {describe(error)}; or use --provider "
                "cpu") from error

    def _tensorrt_options(self, ort, cache_dir, max_batch: int) -> dict[str, str]:
        """TensorRT's options need the input's real name and size: read them on the CPU."""
        probe = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        first = probe.get_inputs()[0]
        contract = ModelContract.from_metadata(probe.get_modelmeta().custom_metadata_map)
        height = first.shape[2] if isinstance(first.shape[2], int) else None
        batch = first.shape[0] if isinstance(first.shape[0], int) and first.shape[0] > 0 \
            else None
        if cache_dir is None:  # engines take minutes to build: keep them between runs
            from ..zoo.registry import cache_dir as user_cache

            cache_dir = user_cache() / "tensorrt"
        options = providers.tensorrt_options(
            cache_root=pathlib.Path(cache_dir), model=self.path, input_name=first.name,
            channels=contract.input_channels,
            size=height or contract.input_size or DEFAULT_INPUT_SIZE,
            max_batch=max_batch, fp16=self._tensorrt_fp16,
            hint_names=contract.guidance or (), fixed_batch=batch)
        engines = pathlib.Path(options["trt_engine_cache_path"])
        engines.mkdir(parents=True, exist_ok=True)
        pathlib.Path(options["trt_timing_cache_path"]).mkdir(parents=True, exist_ok=True)
        if not any(engines.glob("*.engine")):
            log.info("building a TensorRT engine for %s (first run on this GPU; a minute or "
                     "more; cached in %s)", self.path.name, engines)
        return options

    def _frame_graphs(self, wanted: bool | None, threads: int):
        """The per-frame graphs (:mod:`.graphs`) on this runner's device, or None for numpy."""
        if wanted is False or (wanted is None and self.provider == "cpu"):
            return None
        try:
            import onnx  # noqa: F401 - the graphs are built with onnx.helper
        except ImportError:
            if wanted:
                raise ModelError("--frame-graphs needs the onnx package: pip install onnx") \
                    from None
            log.info("per-frame colour math stays on the CPU (install onnx to run it on the GPU)")
            return None
        from .graphs import FrameGraphs, graph_providers

        return FrameGraphs(graph_providers(self.provider), threads=threads)

    def _check(self, names: list[str], available: list[str]) -> str:
        """The provider that really runs; an error or one warning when it is not the one asked."""
        running = short_name(self._session.get_providers()[0])
        wanted = names[0]
        if running != wanted and self.requested != "auto":
            raise ProviderUnavailableError(
                f"provider {wanted!r} failed to start: {providers.diagnose(wanted)}; "
                "or use --provider cpu")
        if running == wanted:
            return running
        reason = self._start_error or providers.diagnose(
            "cuda" if running == "cpu" else wanted)
        if running == "cpu" and (self._start_error or PROVIDERS["cuda"] in available
                                 and libraries.probe("libcuda.so.1").loaded):
            self.warning = f"an NVIDIA driver is present but the model runs on the CPU: {reason}"
            log.warning(self.warning)
        elif running != "cpu":
            self.warning = f"{wanted} did not start, running on {running}: {reason}"
            log.warning(self.warning)
        return running

    def _bind_io(self) -> None:
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        contract = self.contract
        first_in, first_out = inputs[0], outputs[0]
        if len(first_in.shape) != 4 or first_in.shape[1] != contract.input_channels:
            raise ModelError(
                f"model {self.path} does not obey the model contract: input {first_in.name!r} "
                f"has shape {first_in.shape}, expected (N,{contract.input_channels},S,S)"
            )
        if len(first_out.shape) != 4 or first_out.shape[1] not in (contract.output_channels, None):
            raise ModelError(
                f"model {self.path} does not obey the model contract: output {first_out.name!r} "
                f"has shape {first_out.shape}, expected (N,{contract.output_channels},s,s)"
            )
        self.hint_names = self._guidance_inputs(inputs)
        self._no_hints: dict[tuple, list[np.ndarray]] = {}
        if len(inputs) > 1 + len(self.hint_names):
            raise ModelError(
                f"model {self.path} takes {len(inputs)} inputs; the contract allows one, or "
                "three where streamcolor.guidance names the hint inputs (fix extra inputs "
                "inside the graph)"
            )
        self.input_name, self.output_name = first_in.name, first_out.name
        self._input_dtype = np.float16 if "float16" in first_in.type else np.float32
        batch, height = first_in.shape[0], first_in.shape[2]
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
        static = height if isinstance(height, int) and height > 0 else None
        self.input_size = static or contract.input_size or DEFAULT_INPUT_SIZE

    def _guidance_inputs(self, inputs) -> tuple[str, ...]:
        """The (hint a*b*, hint mask) input names the contract declares, checked; () if none."""
        if self.contract.guidance is None:
            return ()
        shapes = {i.name: i.shape for i in inputs}
        for name, channels in zip(self.contract.guidance, (2, 1), strict=True):
            shape = shapes.get(name)
            if shape is None or len(shape) != 4 or shape[1] != channels:
                raise ModelError(
                    f"model {self.path} declares hint input {name!r} (N,{channels},S,S) in "
                    f"streamcolor.guidance, but its inputs are {sorted(shapes)}")
        return self.contract.guidance

    @property
    def guided(self) -> bool:
        """Whether the model takes colour hints (SIGGRAPH17's form: a*b* and a mask)."""
        return bool(self.hint_names)

    def require_guidance(self) -> None:
        """Raise a one-line :class:`ModelError` unless the model takes colour hints."""
        if not self.guided and self.contract.family == "siggraph17":
            raise ModelError(
                f"model {self.path.name} was converted without its hint inputs (by an earlier "
                "streamcolor): run `streamcolor models fetch siggraph17` again")
        if not self.guided:
            raise ModelError(
                f"model {self.contract.name or self.path.name} takes no colour hints; "
                "models that do: the bundled streamcolor-compact (v2 and later) and "
                "siggraph17 (`streamcolor models fetch siggraph17`)")

    def run(self, lightness: np.ndarray, hints: tuple[np.ndarray, np.ndarray] | None = None
            ) -> np.ndarray:
        """(N,1,S,S) float32 L* -> (N,2,s,s) float32 ab. ``hints`` (guided models only):
        a*b* (N,2,S,S) in Lab units and a 0/1 mask (N,1,S,S) at the input's size."""
        from ..color.lab import lightness_to_gray_rgb, rgb_to_ab  # OpenCV only where needed

        feed = lightness
        if self.contract.input_kind == "gray_rgb":
            feed = lightness_to_gray_rgb(lightness)
        feed = feed.astype(self._input_dtype, copy=False)
        extra = self._hint_feed(lightness, hints)
        step = self.fixed_batch or len(feed)
        parts = [self._run_chunk(feed[i : i + step], self._padded(min(step, len(feed) - i)),
                                 [a[i : i + step] for a in extra])
                 for i in range(0, len(feed), step)]
        out = np.concatenate(parts) if len(parts) > 1 else parts[0]
        out = out.astype(np.float32, copy=False)
        if self.contract.output_kind == "rgb":
            out = rgb_to_ab(out)
        if out.ndim != 4 or out.shape[:2] != (len(lightness), 2):
            raise ModelError(f"model {self.path} returned shape {out.shape}, expected (N,2,s,s)")
        return out

    def _hint_feed(self, lightness: np.ndarray, hints) -> list[np.ndarray]:
        """The hint inputs' arrays (empty hints where none are given); [] for a model that
        takes none, which refuses hints with the names of the models that take them."""
        if not self.guided:
            if hints is not None:
                self.require_guidance()
            return []
        n, _, h, w = lightness.shape
        if hints is None:  # the same read-only zeros for every batch of this size
            key = (n, h, w)
            if key not in self._no_hints:
                zeros = [np.zeros((n, c, h, w), self._input_dtype) for c in (2, 1)]
                for array in zeros:
                    array.flags.writeable = False
                self._no_hints[key] = zeros
            return self._no_hints[key]
        ab, mask = hints
        if ab.shape != (n, 2, h, w) or mask.shape != (n, 1, h, w):
            raise ModelError(f"hints of shapes {ab.shape} and {mask.shape} do not fit "
                             f"lightness {lightness.shape}: expected (N,2,S,S) and (N,1,S,S)")
        return [ab.astype(self._input_dtype, copy=False),
                mask.astype(self._input_dtype, copy=False)]

    def _padded(self, count: int) -> int:
        """The batch a chunk of ``count`` runs as: the fixed batch, the next of
        :attr:`pad_to`, or ``count`` itself."""
        if self.fixed_batch:
            return self.fixed_batch
        return next((size for size in self.pad_to or () if size >= count), count)

    def _run_chunk(self, chunk: np.ndarray, size: int, extra: list[np.ndarray]) -> np.ndarray:
        """One session call; a chunk shorter than ``size`` (a fixed batch or a padded size)
        is padded with copies of its last picture and the padding's output is dropped."""
        count = len(chunk)
        if count < size:
            chunk, *extra = [np.concatenate([a, np.repeat(a[-1:], size - count, axis=0)])
                             for a in (chunk, *extra)]
        return self._run_one(chunk, extra)[:count]

    def _run_one(self, feed: np.ndarray, extra: list[np.ndarray]) -> np.ndarray:
        try:
            hints = dict(zip(self.hint_names, extra, strict=True))
            if self._bound is not None:
                return self._bound.run(feed, hints)
            return self._session.run([self.output_name], {self.input_name: feed, **hints})[0]
        except Exception as error:  # onnxruntime raises several unrelated types
            if self.provider != "cpu":
                raise ProviderUnavailableError(
                    f"the {self.provider} provider failed during inference: {describe(error)}"
                ) from error
            raise ModelError(f"model {self.path} failed: {describe(error)}") from error

    def warmup(self, batch_size: int) -> None:
        """Run once on zeros so that lazy allocation and engine builds happen before timing."""
        size = self.input_size
        self.run(np.zeros((batch_size, 1, size, size), dtype=np.float32))

    def warm_thread(self) -> None:
        """Warm up on the calling thread, once per thread (GPU providers keep per-thread
        state: streams, cuBLAS/cuDNN handles): inference threads call it as they start, so
        that their first batch does not pay for it. Nothing on the CPU provider."""
        if self.provider == "cpu" or getattr(self._warmed, "done", False):
            return
        self.warmup(self._warm_batch)
        self._warmed.done = True


def batch_sizes(max_batch: int) -> tuple[int, ...]:
    """The sizes GPU batches are padded to: powers of two below ``max_batch``, and it."""
    sizes, size = [], 1
    while size < max_batch:
        sizes.append(size)
        size *= 2
    return (*sizes, max(1, max_batch))


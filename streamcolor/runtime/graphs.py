"""The per-frame colour math as ONNX graphs, so that it runs where the model runs.

* pre: luma planes (N,H,W) uint8/uint16 -> model input (N,1,S,S) L*, as :func:`color.model_input`
* post: luma planes (N,H,W) + model-resolution ab (N,2,s,s) -> Cb, Cr planes (N,h,w), as
  :func:`color.chroma_planes` (luma area-resized to the chroma size and read as L*, ab
  upsampled bilinearly, Lab -> R'G'B' -> Cb/Cr with the stream's matrix and range).

The model stays its own session between the two, so model-resolution ab comes back to the host
where the temporal stabilizer works on it, and batch-size invariance holds. OpenCV's resizes
are linear maps, so each one is two matrix products with weights taken from OpenCV itself; the
results match the numpy path within one code value. Needs the ``onnx`` package to build.

The pipeline runs them once per batch (:meth:`FrameGraphs.model_input_frames`,
:meth:`FrameGraphs.chroma_groups` of :func:`media.frames.chroma_inputs`), not once per
frame: one upload, one synchronisation and one download per batch. On CUDA the sessions run
without TF32 (:func:`graph_providers`): the resize matrix products need full float32 for the
one-code-value parity of 10-bit video.
"""

from __future__ import annotations

import functools
import itertools

import cv2
import numpy as np

from ..color.lab import PlaneSpec, lightness_lut

__all__ = ["FrameGraphs", "resize_weights", "graph_providers"]

_OPSET = 17
# sRGB primaries, D65 white (as OpenCV's Lab -> RGB uses them).
_XYZ_TO_RGB = np.array([[3.240479, -1.53715, -0.498535], [-0.969256, 1.875991, 0.041556],
                        [0.055648, -0.204043, 1.057311]]) * np.array([0.950456, 1.0, 1.088754])


def resize_weights(source: int, target: int, interpolation: int) -> np.ndarray:
    """(target, source) matrix doing OpenCV's 1-D resize: OpenCV applied to the identity."""
    eye = np.eye(source, dtype=np.float32)
    return cv2.resize(eye, (source, target), interpolation=interpolation)


class _Builder:
    """A small helper over onnx.helper: constants and nodes with generated names."""

    def __init__(self) -> None:
        import onnx
        from onnx import helper, numpy_helper

        self.onnx, self.helper, self.numpy_helper = onnx, helper, numpy_helper
        self.nodes, self.constants, self._count = [], [], 0

    def const(self, value) -> str:
        self._count += 1
        name = f"c{self._count}"
        self.constants.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, *inputs: str, **attributes) -> str:
        self._count += 1
        name = f"t{self._count}"
        self.nodes.append(self.helper.make_node(kind, list(inputs), [name], **attributes))
        return name

    def model(self, inputs, outputs: dict[str, tuple], results: list[str]) -> bytes:
        h, tp = self.helper, self.onnx.TensorProto
        for result, name in zip(results, outputs, strict=True):
            self.nodes.append(h.make_node("Identity", [result], [name]))
        graph = h.make_graph(
            self.nodes, "streamcolor_frame",
            [h.make_tensor_value_info(n, tp.__dict__[t], s) for n, (t, s) in inputs.items()],
            [h.make_tensor_value_info(n, tp.__dict__[t], s) for n, (t, s) in outputs.items()],
            self.constants)
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", _OPSET)], ir_version=8)
        return model.SerializeToString()

    def resize(self, planes: str, source: tuple[int, int], target: tuple[int, int],
               interpolation: int) -> str:
        """(..., H, W) float -> (..., h, w) float: rows then columns, OpenCV's weights."""
        rows = resize_weights(source[0], target[0], interpolation)
        columns = resize_weights(source[1], target[1], interpolation).T
        return self.op("MatMul", self.op("MatMul", self.const(rows), planes),
                       self.const(np.ascontiguousarray(columns)))

    def lightness(self, luma: str, source: tuple[int, int], target: tuple[int, int],
                  spec: PlaneSpec) -> str:
        """L* of luma codes area-resized (as integer codes, OpenCV's rounding) to ``target``."""
        codes = self.op("Cast", luma, to=self.onnx.TensorProto.FLOAT)
        if source != target:
            codes = self.resize(codes, source, target, cv2.INTER_AREA)
            if source == (2 * target[0], 2 * target[1]):  # OpenCV's 2x2 box rounds half up
                codes = self.op("Floor", self.op("Add", codes, self.const(np.float32(0.5))))
            else:
                codes = self.op("Round", codes)
        codes = self.op("Clip", codes, self.const(np.float32(0)),
                        self.const(np.float32(spec.max_code)))
        index = self.op("Cast", codes, to=self.onnx.TensorProto.INT64)
        return self.op("Gather", self.const(lightness_lut(spec)), index, axis=0)

    def cube_inverse(self, f: str) -> str:
        """CIE f^-1: f^3 above 6/29, linear below (OpenCV's thresholds)."""
        cube = self.op("Mul", self.op("Mul", f, f), f)
        linear = self.op("Div", self.op("Sub", f, self.const(np.float32(16 / 116))),
                         self.const(np.float32(7.787)))
        above = self.op("Greater", f, self.const(np.float32(7.787 * 0.008856 + 16 / 116)))
        return self.op("Where", above, cube, linear)

    def lab_to_rgb(self, lightness: str, a: str, b: str) -> list[str]:
        """L*, a*, b* -> R'G'B' in 0..1 (sRGB gamma, clipped), as OpenCV's Lab2RGB."""
        f = self.const
        low = self.op("LessOrEqual", lightness, f(np.float32(0.008856 * 903.3)))
        y_low = self.op("Div", lightness, f(np.float32(903.3)))
        fy_high = self.op("Div", self.op("Add", lightness, f(np.float32(16))), f(np.float32(116)))
        y = self.op("Where", low, y_low, self.op("Mul", self.op("Mul", fy_high, fy_high), fy_high))
        fy_low = self.op("Add", self.op("Mul", y_low, f(np.float32(7.787))),
                         f(np.float32(16 / 116)))
        fy = self.op("Where", low, fy_low, fy_high)
        x = self.cube_inverse(self.op("Add", fy, self.op("Div", a, f(np.float32(500)))))
        z = self.cube_inverse(self.op("Sub", fy, self.op("Div", b, f(np.float32(200)))))
        channels = []
        for row in _XYZ_TO_RGB.astype(np.float32):
            linear = self.op("Add", self.op("Add", self.op("Mul", x, f(row[0])),
                                            self.op("Mul", y, f(row[1]))),
                             self.op("Mul", z, f(row[2])))
            channels.append(self.gamma(self.op("Clip", linear, f(np.float32(0)),
                                               f(np.float32(1)))))
        return channels

    def gamma(self, linear: str) -> str:
        f = self.const
        small = self.op("Mul", linear, f(np.float32(12.92)))
        power = self.op("Pow", linear, f(np.float32(1 / 2.4)))
        large = self.op("Sub", self.op("Mul", power, f(np.float32(1.055))), f(np.float32(0.055)))
        return self.op("Where", self.op("LessOrEqual", linear, f(np.float32(0.0031308))),
                       small, large)


def _code_type(spec: PlaneSpec) -> tuple[str, int]:
    import onnx

    if spec.bits <= 8:
        return "UINT8", onnx.TensorProto.UINT8
    return "UINT16", onnx.TensorProto.UINT16


def pre_graph(shape: tuple[int, int], size: int, spec: PlaneSpec) -> bytes:
    """luma (N,H,W) codes -> (N,1,size,size) float32 L*."""
    g = _Builder()
    lightness = g.lightness("luma", shape, (size, size), spec)
    out = g.op("Unsqueeze", lightness, g.const(np.array([1], np.int64)))
    kind = _code_type(spec)[0]
    return g.model({"luma": (kind, ["N", *shape])}, {"lightness": ("FLOAT", ["N", 1, size, size])},
                   [out])


def post_graph(shape: tuple[int, int], ab_size: tuple[int, int], chroma: tuple[int, int],
               spec: PlaneSpec) -> bytes:
    """luma (N,H,W) codes + ab (N,2,s,s) -> Cb, Cr (N,h,w) codes."""
    g = _Builder()
    lightness = g.lightness("luma", shape, chroma, spec)
    ab = g.resize("ab", ab_size, chroma, cv2.INTER_LINEAR)
    a, b = _split(g, ab)
    rgb = g.lab_to_rgb(lightness, a, b)
    low, high = spec.chroma_limits()
    kind, code = _code_type(spec)
    planes = []
    for row in spec.chroma_matrix():
        value = g.const(np.float32(row[3]))
        for channel, weight in zip(rgb, row[:3], strict=True):
            value = g.op("Add", value, g.op("Mul", channel, g.const(np.float32(weight))))
        value = g.op("Clip", value, g.const(np.float32(low)), g.const(np.float32(high)))
        value = g.op("Round", value) if spec.bits <= 8 else \
            g.op("Floor", g.op("Add", value, g.const(np.float32(0.5))))
        planes.append(g.op("Cast", value, to=code))
    return g.model({"luma": (kind, ["N", *shape]), "ab": ("FLOAT", ["N", 2, *ab_size])},
                   {"cb": (kind, ["N", *chroma]), "cr": (kind, ["N", *chroma])}, planes)


def _split(g: _Builder, ab: str) -> tuple[str, str]:
    a = g.op("Gather", ab, g.const(np.int64(0)), axis=1)
    b = g.op("Gather", ab, g.const(np.int64(1)), axis=1)
    return a, b


def graph_providers(provider: str) -> list:
    """The provider list for the graphs beside a model running on ``provider``: CUDA (also
    under TensorRT) with TF32 off, then the CPU; only the CPU for ``cpu``."""
    if provider == "cpu":
        return ["CPUExecutionProvider"]
    return [("CUDAExecutionProvider", {"use_tf32": "0"}), "CPUExecutionProvider"]


class FrameGraphs:
    """Sessions for the pre and post graphs, built once per frame geometry, on ``providers``
    (names, or (name, options) pairs)."""

    def __init__(self, providers: list, *, threads: int = 0) -> None:
        self._providers, self._threads = providers, threads

    @functools.lru_cache(maxsize=8)  # noqa: B019 - one instance per runner, a few geometries
    def _session(self, blob: bytes):
        import onnxruntime as ort

        from ..errors import ProviderUnavailableError, describe
        from .providers import open_session

        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.log_severity_level = 3
        first = self._providers[0]
        wanted = first[0] if isinstance(first, tuple) else first
        try:
            session = open_session(ort, blob, options, list(self._providers))
        except Exception as error:  # onnxruntime raises several unrelated types
            raise ProviderUnavailableError(
                f"the frame graphs cannot start on {wanted}: {describe(error)}; use --provider "
                "cpu, or ModelConfig(frame_graphs=False)") from error
        if session.get_providers()[0] != wanted:
            raise ProviderUnavailableError(
                f"the frame graphs asked for {wanted} but onnxruntime gave "
                f"{session.get_providers()[0]}; use --provider cpu, or "
                "ModelConfig(frame_graphs=False)")
        return session

    def model_input(self, luma: np.ndarray, size: int, spec: PlaneSpec) -> np.ndarray:
        """(N,H,W) luma codes -> (N,1,size,size) float32 L*."""
        session = self._session(_pre(luma.shape[1:], size, spec))
        return session.run(None, {"luma": np.ascontiguousarray(luma)})[0]

    def chroma_planes(self, luma: np.ndarray, ab: np.ndarray, chroma_shape: tuple[int, int],
                      spec: PlaneSpec) -> tuple[np.ndarray, np.ndarray]:
        """(N,H,W) luma codes and (N,2,s,s) ab -> Cb and Cr, each (N,h,w) codes."""
        blob = _post(luma.shape[1:], ab.shape[2:], tuple(chroma_shape), spec)
        cb, cr = self._session(blob).run(None, {"luma": np.ascontiguousarray(luma),
                                                "ab": np.ascontiguousarray(ab, np.float32)})
        return cb, cr

    def model_input_frames(self, frames: list[tuple[np.ndarray, PlaneSpec]], size: int
                           ) -> list[np.ndarray]:
        """Each frame's (luma (H,W), spec) -> its (size,size) L*: one session call per run of
        frames that share a geometry and spec (a whole batch, as a rule)."""
        out: list[np.ndarray] = []
        for _, group in itertools.groupby(frames, lambda f: (f[0].shape, f[0].dtype, f[1])):
            group = list(group)
            lumas = np.stack([luma for luma, _ in group])
            out.extend(self.model_input(lumas, size, group[0][1])[:, 0])
        return out

    def chroma_groups(self, frames: list[tuple[np.ndarray, PlaneSpec, tuple]],
                      ab: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each frame's (luma (H,W), spec, chroma shape) with its ab (from ``ab`` (N,2,s,s),
        in order) -> its (Cb, Cr): one session call per run of alike frames."""
        out: list[tuple[np.ndarray, np.ndarray]] = []
        start = 0
        for key, group in itertools.groupby(
                frames, lambda f: (f[0].shape, f[0].dtype, f[1], tuple(f[2]))):
            group = list(group)
            lumas = np.stack([luma for luma, _, _ in group])
            part = np.asarray(ab[start:start + len(group)], np.float32)
            cb, cr = self.chroma_planes(lumas, part, key[3], key[2])
            out.extend(zip(cb, cr, strict=True))
            start += len(group)
        return out

    def model_input_one(self, luma: np.ndarray, size: int, spec: PlaneSpec) -> np.ndarray:
        """One (H,W) luma plane -> (size,size) L*, the signature of :func:`color.model_input`."""
        return self.model_input(luma[None], size, spec)[0, 0]

    def chroma_planes_one(self, luma: np.ndarray, ab: np.ndarray, chroma_shape, spec):
        """One frame, the signature of :func:`color.chroma_planes`."""
        cb, cr = self.chroma_planes(luma[None], ab[None], chroma_shape, spec)
        return cb[0], cr[0]


@functools.lru_cache(maxsize=8)
def _pre(shape, size, spec) -> bytes:
    return pre_graph(tuple(shape), size, spec)


@functools.lru_cache(maxsize=8)
def _post(shape, ab_size, chroma, spec) -> bytes:
    return post_graph(tuple(shape), tuple(ab_size), chroma, spec)

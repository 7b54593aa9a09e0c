"""The grader's layers, served to the student's network: how a check of a network charges
the network's own code only.

A check of TwoLayerNet or FullyConnectedNet runs the student's fc_net.py with the
reference layers, so that a bug in layers.py costs the layer's own cells and no network
cell. The reference code never enters the student's process (which cannot read it: see
docs/SECURITY.md). Instead:

1. in the student's process, before fc_net.py is imported, every function of
   nnkit.layers is replaced by a stand-in with the same signature (probes.Package with a
   layer_channel; also where fc_net.py, layer_utils.py or a table of theirs already holds
   one, and a layers.py that does not import is replaced by a module of stand-ins);
2. a stand-in writes its array arguments to the job folder and asks the grader, over the
   runner's protocol (student_runner.py, student_process.py), to run that layer;
3. here, ReferenceLayers.serve checks the call (a known layer, arrays of numbers of
   sizes and shapes the layer accepts, a cache handle it issued), runs the reference
   layer and writes back its outputs. A forward pass's cache stays here; the student's
   side gets an opaque handle (probes.ReferenceCache) to pass to the backward pass.

What travels to the student's side are the layers' outputs for inputs the student's code
chose: numbers, never code. Every call is checked before it runs, and the sizes it may
reach are capped (MAX_ELEMENTS, MAX_CACHED_BYTES, MAX_CALLS), because the student's side
can send anything.
"""
from dataclasses import dataclass

import numpy as np

from autograder.checks.framework import reference_package

from .probes import LAYER_CALLS

# Caps on what one check's calls may make the grader compute and keep. The checks' own
# networks stay far below them (tens of units, a few batches).
MAX_ELEMENTS = 2**20
MAX_CACHED_BYTES = 256 * 2**20
MAX_CALLS = 20_000
MAX_CALL_FILE_BYTES = 8 * MAX_ELEMENTS * 8


class CallRefused(Exception):
    """The call cannot run; str() says why, for the student."""


@dataclass
class _Kept:
    forward: str       # the layer that made it
    cache: object      # the reference layer's cache
    out_shape: tuple   # the shape of its output, which dout must have
    mode: str = ""     # batchnorm's mode: a test-mode cache has no backward pass


class ReferenceLayers:
    """The reference layers of one check: serves the calls of the student's network."""

    def __init__(self):
        reference_package()
        import nnkit.layers

        self._layers = nnkit.layers
        self._kept = {}
        self._kept_bytes = 0
        self._calls = 0

    def serve(self, job, request):
        """Run the call the runner passed on ({"call": N, "function": name}), reading
        JOB/call-N.npz and writing JOB/reply-N.npz; returns the reply's fields."""
        try:
            number = int(request["call"])
            function = str(request["function"])
            if function not in LAYER_CALLS:
                raise CallRefused(f"{function} is not a layer the grader serves")
            self._calls += 1
            if self._calls > MAX_CALLS:
                raise CallRefused(f"the network called the grader's layers more than {MAX_CALLS} times")
            outputs = self._run(function, LAYER_CALLS[function], _read_call(job / f"call-{number}.npz"))
            np.savez(job / f"reply-{number}.npz", **outputs)
        except CallRefused as refused:
            return {"ok": False, "message": str(refused)}
        except (KeyError, TypeError, ValueError) as unreadable:
            return {"ok": False, "message": f"the call could not be read ({type(unreadable).__name__})"}
        return {"ok": True}

    def _run(self, function, call, arrays):
        arguments = {key[len("arg/"):]: value for key, value in arrays.items() if key.startswith("arg/")}
        param = {key[len("param/"):]: value for key, value in arrays.items() if key.startswith("param/")}
        expected = [name for name in call.arguments if name not in ("cache", call.param)]
        missing = [name for name in expected if name not in arguments and name not in call.optional]
        if missing or set(arguments) - set(expected):
            raise CallRefused(f"{function} takes {', '.join(call.arguments)}")
        for name, value in arguments.items():
            if value.dtype.kind not in "biuf":
                raise CallRefused(f"{function}: {name} must hold numbers, got dtype {value.dtype}")
        layer = getattr(self._layers, function)
        if call.kind == "backward":
            return self._backward(function, call, layer, arguments["dout"], arrays.get("handle"))
        _check_shapes(function, arguments)
        if call.kind == "loss":
            loss, dx = self._reference(function, layer, arguments["x"], arguments["y"])
            return {"loss": np.asarray(loss), "dx": dx}
        values = [arguments[name] if name in arguments else None for name in expected]
        if "alpha" in call.optional and "alpha" in arguments:
            values[-1] = float(arguments["alpha"])
        elif "alpha" in call.optional:
            values.pop()
        if call.param:
            param_dict = _param_dict(function, call.param, param, arguments["x"])
            values.append(param_dict)
        out, cache = self._reference(function, layer, *values)
        outputs = {"out": np.asarray(out), "handle": np.array(self._keep(function, cache, np.shape(out),
                                                                          param_dict if call.param else {}))}
        if call.param:
            outputs.update({f"param/{key}": np.asarray(value) for key, value in param_dict.items()
                            if key in ("running_mean", "running_var")})
        return outputs

    def _backward(self, function, call, layer, dout, handle):
        kept = self._kept.get(int(handle)) if handle is not None and handle.size == 1 else None
        if kept is None:
            raise CallRefused(f"{function} was given a cache that the grader's {call.forward} did not return")
        if kept.forward != call.forward:
            raise CallRefused(f"{function} was given the cache of {kept.forward}; it needs the cache of "
                              f"{call.forward}")
        if kept.forward == "batchnorm_forward" and kept.mode == "test":
            raise CallRefused(f"{function} was given the cache of {kept.forward} in test mode, which has "
                              "no backward pass")
        if dout.shape != kept.out_shape:
            raise CallRefused(f"{function}: dout has shape {dout.shape}, but the output of {kept.forward} "
                              f"had shape {kept.out_shape}")
        gradients = self._reference(function, layer, dout, kept.cache)
        gradients = gradients if call.returns > 1 else (gradients,)
        return {f"grad/{number}": np.asarray(gradient) for number, gradient in enumerate(gradients)}

    def _keep(self, function, cache, out_shape, param):
        size = sum(np.asarray(item).nbytes for item in (cache if isinstance(cache, tuple) else (cache,))
                   if isinstance(item, np.ndarray))
        if self._kept_bytes + size > MAX_CACHED_BYTES:
            raise CallRefused(f"the network's calls of the grader's layers keep more than "
                              f"{MAX_CACHED_BYTES // 2**20} MiB of caches")
        self._kept_bytes += size
        handle = len(self._kept) + 1
        self._kept[handle] = _Kept(function, cache, tuple(out_shape), str(param.get("mode", "")))
        return handle

    @staticmethod
    def _reference(function, layer, *values):
        with np.errstate(all="ignore"):
            try:
                return layer(*values)
            except Exception as error:  # noqa: BLE001 - inputs the checks above let through
                raise CallRefused(f"{function} raised {type(error).__name__}: {error}") from None


def _read_call(path):
    if path.stat().st_size > MAX_CALL_FILE_BYTES:
        raise CallRefused("the call's inputs are too large")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    for key, value in arrays.items():
        if value.size > MAX_ELEMENTS:
            raise CallRefused(f"{key.split('/')[-1]} has {value.size:,} entries; at most {MAX_ELEMENTS:,} "
                              "are served")
    return arrays


def _check_shapes(function, arguments):
    """Refuse inputs the layer's docstring does not allow, before computing anything."""
    x = arguments.get("x")
    if function == "affine_forward":
        w, b = arguments["w"], arguments["b"]
        features = int(np.prod(x.shape[1:])) if x.ndim >= 1 else 0
        if x.ndim < 2 or w.ndim != 2 or b.ndim != 1 or features != w.shape[0] or b.shape[0] != w.shape[1]:
            raise CallRefused(f"x of shape {x.shape}, w of shape {w.shape} and b of shape {b.shape} do not "
                              "fit: x must be (N, d_1, ..., d_k), w (d_1 * ... * d_k, M) and b (M,)")
        if x.shape[0] * w.shape[1] > MAX_ELEMENTS:
            raise CallRefused(f"out would have {x.shape[0] * w.shape[1]:,} entries; at most {MAX_ELEMENTS:,} "
                              "are served")
    elif function in ("batchnorm_forward", "layernorm_forward"):
        gamma, beta = arguments["gamma"], arguments["beta"]
        if x.ndim != 2 or gamma.shape != (x.shape[1],) or beta.shape != (x.shape[1],):
            raise CallRefused(f"x of shape {x.shape}, gamma of shape {gamma.shape} and beta of shape "
                              f"{beta.shape} do not fit: x must be (N, D), gamma and beta (D,)")
    elif function in ("svm_loss", "softmax_loss"):
        y = arguments["y"]
        if x.ndim != 2 or y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
            raise CallRefused(f"x of shape {x.shape} and y of shape {y.shape} (dtype {y.dtype}) do not fit: "
                              "x must be (N, C) and y (N,) integer labels")
        if y.size and (y.min() < 0 or y.max() >= x.shape[1]):
            raise CallRefused(f"y holds labels outside 0 .. {x.shape[1] - 1}")


def _param_dict(function, name, given, x):
    """bn_param / ln_param / dropout_param from the entries the student's side sent."""
    param = {}
    for key, value in given.items():
        if key == "mode":
            if value.dtype.kind != "U" or str(value) not in ("train", "test"):
                raise CallRefused(f"{function}: {name}['mode'] must be 'train' or 'test'")
            param[key] = str(value)
        elif key in ("running_mean", "running_var"):
            if value.dtype.kind not in "iuf" or value.shape != x.shape[1:2]:
                raise CallRefused(f"{function}: {name}['{key}'] has shape {value.shape}, but must have shape "
                                  f"{x.shape[1:2]}")
            param[key] = value
        elif value.dtype.kind in "biuf" and value.size == 1:
            param[key] = int(value) if key == "seed" else float(value)
        else:
            raise CallRefused(f"{function}: {name}['{key}'] must be a number")
    return param

"""A metric whose backbone is a constructor argument, with a key that names the backbone.

One implementation per metric (`SyncDistance`, `FrechetInceptionDistance`, ...) serves every
backbone that implements its protocol. The key must name the backbone already at class level
(`fada-bench list metrics` lists keys without loading any weights), so a backbone is bound to a
metric by `bind`, which makes a small subclass carrying the backbone's name and a factory for it:

    SyncDistanceSynthetic = SyncDistance.bind("synthetic", load_sync_net)
    SyncDistanceSynthetic.key()          # 'sync_d[synthetic]'
    SyncDistanceSynthetic()              # loads the default backbone
    SyncDistance.of(my_backbone)         # an instance for any object implementing the protocol
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Callable, ClassVar

import numpy as np

from .base import BenchMetric


def content_digest(*arrays: np.ndarray) -> str:
    """A hash of array contents, shapes and dtypes: the key under which a backbone keeps the
    outputs of the last few videos, so metrics that read one network run it once per video."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(repr((a.shape, a.dtype.str)).encode())
        h.update(a.data)
    return h.hexdigest()


def per_frame_cached(cache: OrderedDict[str, np.ndarray], frames: np.ndarray, per_frame, shape: tuple,
                     keep: int = 4) -> np.ndarray:
    """`per_frame(frame)` for every frame (None: NaN, no face), stacked to (T, *shape), kept in
    `cache` under the video's content digest for the last `keep` videos, so the metrics that read
    one landmark network run it once per video."""
    key = content_digest(frames)
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    out = np.full((len(frames), *shape), np.nan)
    for i, f in enumerate(frames):
        value = per_frame(f)
        if value is not None:
            out[i] = value
    cache[key] = out
    if len(cache) > keep:
        cache.popitem(last=False)
    return out


class BackboneMetric(BenchMetric):
    protocol: ClassVar[type]                                   # the backbone protocol it needs
    backbone: ClassVar[str | None] = None                      # set by `bind`
    default_backbone: ClassVar[Callable[[], Any] | None] = None
    sampling: ClassVar[str] = ""                               # how frames are chosen, recorded with results

    def __init__(self, backbone: Any = None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self)
        if cls.backbone is None:
            raise TypeError(f"{cls.__name__} is not bound to a backbone: use "
                            f"{cls.__name__}.bind(name, factory)() or {cls.__name__}.of(backbone)")
        if backbone is None:
            if cls.default_backbone is None:
                raise TypeError(f"{cls.key()} has no default backbone: pass one implementing "
                                f"{cls.protocol.__name__}")
            backbone = cls.default_backbone()
        if not isinstance(backbone, cls.protocol):
            raise TypeError(f"{cls.key()}: {type(backbone).__name__} does not implement {cls.protocol.__name__}")
        if getattr(backbone, "name", None) != cls.backbone:
            raise ValueError(f"{cls.key()} got a backbone named {getattr(backbone, 'name', None)!r}; "
                             f"the key must name the backbone that computed it")
        # Not an attribute torch sees: the metric's state is its registered sums, and a backbone
        # that is an nn.Module must not ride along in its state_dict or be moved by `.to()`.
        object.__setattr__(self, "net", backbone)

    @classmethod
    def key(cls) -> str:
        if cls.backbone is None:
            raise TypeError(f"{cls.__name__} is not bound to a backbone, so it has no key")
        return super().key()

    @classmethod
    def bind(cls, backbone: str, factory: Callable[[], Any] | None = None,
             worlds: tuple[str, ...] | None = None, **overrides) -> type:
        """A subclass of this metric for the backbone named `backbone`; `factory()` builds the
        backbone when the metric is made without one. `overrides` set other class attributes."""
        attrs = {"backbone": backbone, "__module__": cls.__module__,
                 "__doc__": f"{cls.__doc__ or cls.__name__}\n\nBound to the {backbone!r} backbone.",
                 **overrides}
        if factory is not None:
            attrs["default_backbone"] = staticmethod(factory)
        if worlds is not None:
            attrs["worlds"] = tuple(worlds)
        return type(f"{cls.__name__}[{backbone}]", (cls,), attrs)

    @classmethod
    def of(cls, backbone: Any, **kwargs) -> "BackboneMetric":
        """An instance of this metric over `backbone` (any object implementing the protocol)."""
        return cls.bind(backbone.name)(backbone, **kwargs)

    @classmethod
    def available(cls, world: str) -> tuple[bool, str]:
        """Whether the bound backbone's weights are here (`metric_available` checks `worlds` first)."""
        check = getattr(cls.default_backbone, "available", None)
        return check() if check is not None else (True, "")


def register_bound(metric: type, backbone: str, factory: Callable[[], Any], worlds: tuple[str, ...],
                   **overrides) -> type:
    """Bind `metric` to a backbone and register the result under its key (`sync_d[synthetic]`);
    `overrides` set class attributes (a scorer whose scale runs the other way)."""
    from ..registry import register_metric

    bound = metric.bind(backbone, factory, worlds, **overrides)
    return register_metric(bound.key())(bound)


class FrameStrideMetric(BackboneMetric):
    """A metric over a video's frames that may keep only every `frame_stride`-th one (from frame
    0; 1: every frame). The choice is recorded in `sampling`, which the run's metadata carries."""

    def __init__(self, backbone: Any = None, frame_stride: int = 1, **kwargs):
        super().__init__(backbone, **kwargs)
        if frame_stride < 1:
            raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
        self.frame_stride = frame_stride
        self.sampling = "every frame" if frame_stride == 1 else f"one frame in {frame_stride}, from frame 0"

    def frames(self, video) -> np.ndarray:
        return video.frames[::self.frame_stride]

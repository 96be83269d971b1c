"""Live demos inside Jupyter: the camera widget with three places to run the CNN
(:mod:`.camera`), the ipywebrtc ``ImageRecorder`` probe it is compared with (:mod:`.recorder`) and
the partition what-if explorer (:mod:`.explorer`).

``from hybridlib import widgets; widgets.CameraWidget(...)`` keeps working (names re-exported).
"""
from __future__ import annotations

from hybridlib.widgets.camera import (
                                      MAX_FRAME_BYTES,
                                      MAX_WIDTH,
                                      MODES,
                                      WIDGET_DIR,
                                      CameraWidget,
                                      ClipRun,
                                      KernelPipeline,
                                      ModelChoice,
                                      choose_model,
                                      decode_jpeg,
                                      default_split_layer,
                                      runtime_assets,
                                      tfjs_assets,
)
from hybridlib.widgets.explorer import partition_explorer
from hybridlib.widgets.recorder import RecorderProbe

__all__ = ["MAX_FRAME_BYTES", "MAX_WIDTH", "MODES", "WIDGET_DIR", "CameraWidget", "ClipRun", "KernelPipeline",
           "ModelChoice", "RecorderProbe", "choose_model", "decode_jpeg", "default_split_layer",
           "partition_explorer", "runtime_assets", "tfjs_assets"]

"""Leave PyTorch: a trained model as one ONNX or TorchScript file that carries its preprocessing, checked on export.

    from segattn.export import export_onnx, load_model

    export_onnx("runs/walls/best.ckpt", "walls.onnx")      # dynamic batch / height / width, parity-checked
    seg = load_model("walls.onnx")                          # a Segmenter that runs ONNX Runtime
    seg.predict_folder("scans/", "out/")                     # the same tiling, blending, TTA and manifest

Parts, each importing only the ones before it: ``extras`` (the optional ``segattn[onnx]`` packages), ``metadata``
(the preprocessing contract as key / value strings), ``parity`` (the check every export ends with), ``job`` (source,
destination, atomic commit), ``onnx_runtime`` (the ONNX Runtime backend), ``onnx`` and ``torchscript`` (the
exporters), ``load`` (any exported file -> Segmenter).
"""

from .extras import MissingExtraError
from .job import ExportResult
from .load import load_model
from .metadata import Contract, ModelFileError, read_contract, write_contract
from .onnx import OPSET, export_onnx
from .onnx_runtime import OnnxNetwork, load_onnx
from .parity import TOLERANCE, ExportFailed, ParityError, ParityReport, check_parity, parity_inputs
from .torchscript import export_torchscript, load_torchscript

__all__ = [
    "OPSET",
    "TOLERANCE",
    "Contract",
    "ExportFailed",
    "ExportResult",
    "MissingExtraError",
    "ModelFileError",
    "OnnxNetwork",
    "ParityError",
    "ParityReport",
    "check_parity",
    "export_onnx",
    "export_torchscript",
    "load_model",
    "load_onnx",
    "load_torchscript",
    "parity_inputs",
    "read_contract",
    "write_contract",
]

"""The GPU torch sees."""

from __future__ import annotations

import shutil

from exphil.setup_checks._common import Check

__all__ = ["check_gpu"]


def check_gpu() -> Check:
    """The GPU torch sees: CUDA (name, memory, count; ``details["device"] = "cuda"``), an
    Apple GPU (MPS: present but not used by ExPhil), or none (training on the CPU)."""
    import torch

    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        props = torch.cuda.get_device_properties(0)
        gib = props.total_memory / 2**30
        more = f" (+{count - 1} more)" if count > 1 else ""
        return Check(
            item="gpu",
            status="ok",
            message=f"CUDA: {props.name}, {gib:.0f} GiB{more}",
            details={
                "device": "cuda",
                "name": str(props.name),
                "memory_gib": round(gib, 1),
                "count": count,
                "cuda": torch.version.cuda,
            },
        )
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return Check(
            item="gpu",
            status="warn",
            message="an Apple GPU (MPS); ExPhil trains on CUDA or the CPU, so the CPU",
            details={"device": "cpu", "mps": True},
        )
    if torch.version.cuda is None and shutil.which("nvidia-smi"):
        return Check(
            item="gpu",
            status="warn",
            message="an NVIDIA driver is installed but this torch has no CUDA support",
            fix="install a CUDA build of torch (https://pytorch.org/get-started/locally/)",
            details={"device": "cpu", "torch": torch.__version__},
        )
    return Check(
        item="gpu",
        status="warn",
        message="no GPU: training runs on the CPU (slower; the quick preset is sized for it)",
        details={"device": "cpu"},
    )

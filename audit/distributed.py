"""Data-parallel audits on Hugging Face Accelerate (``accelerate launch -m audit run …``).

Every process runs the same probes on the same inputs; the engine splits each batch plan across the
processes, gathers the outputs and shares them, so every process ends with the full, identical result
(each sequence is computed in the same batch as in a single process, hence bit-identical outputs).
Only the main process writes files.
"""
from __future__ import annotations

import os
from typing import Any


def _state() -> Any:
    import torch
    from accelerate import PartialState

    # on a machine without CUDA, torchrun-launched processes talk over gloo (DistributedType.MULTI_CPU)
    return PartialState(cpu=not torch.cuda.is_available())


def world() -> tuple[int, int]:
    """(this process's index, number of processes); (0, 1) outside ``accelerate launch``."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    state = _state()
    return state.process_index, state.num_processes


def is_main_process() -> bool:
    return world()[0] == 0


def gather(items: list[Any]) -> list[Any]:
    """Concatenate every process's list, in process order (all processes must call this)."""
    from accelerate.utils import gather_object

    return list(gather_object(items))


def barrier() -> None:
    _state().wait_for_everyone()


def device() -> Any:
    """The device Accelerate assigned to this process."""
    return _state().device

"""Data-parallel training: one process per device, as ``torchrun`` starts them, on PyTorch's own
engine (``torch.distributed`` and ``DistributedDataParallel``).

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK in each process's environment. ``session`` starts
the process group from them (NCCL for CUDA, gloo for CPU), and each process trains on
``cuda:LOCAL_RANK`` or the CPU. Without that environment (a plain ``ganzoo train``) nothing is
started: ``current()`` is rank 0 of 1 and every helper here leaves its argument as it is, so a
single process trains exactly as it always did.

In a data-parallel run each network that an optimiser trains is wrapped in its own
``DistributedDataParallel`` (``wrap``), which averages its gradients over the processes during
``backward``; the variant's ``train_step`` is unchanged. Each process draws its own noise and
reads its own share of each batch (``ganzoo.data.BatchStream``); rank 0 writes everything.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import random
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .devices import pick_device
from .errors import UserError


@dataclass(frozen=True)
class World:
    """This process's place in a data-parallel run: rank ``rank`` of ``size`` processes, the
    ``local_rank``-th on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints, samples, the log and the weights."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched() -> World:
    """The place torchrun's environment gives this process; World() for a plain launch."""
    env = os.environ
    return World(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def current() -> World:
    """This process's place in the process group now running; World() when none runs."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def training_device(name: str, world: World) -> torch.device:
    """``pick_device(name)``, and in a data-parallel run each process's own: ``cuda:LOCAL_RANK``
    on GPUs (or the one GPU a process sees, where CUDA_VISIBLE_DEVICES gives each its own)."""
    device = pick_device(name)
    if not world.distributed:
        return device
    if device.type == "cuda":
        if device.index is not None and device.index != world.local_rank:
            raise UserError(f"--device {name}: under torchrun each process trains on the GPU of its local rank "
                            f"(cuda:LOCAL_RANK); choose the GPUs with CUDA_VISIBLE_DEVICES and pass --device cuda")
        count = torch.cuda.device_count()
        if world.local_rank < count:
            return torch.device("cuda", world.local_rank)
        if count == 1:
            return torch.device("cuda", 0)
        raise UserError(f"process {world.local_rank} on this machine has no GPU of its own: {count} GPUs are "
                        f"visible; start at most {count} processes per machine (--nproc_per_node {count})")
    if device.type != "cpu":
        raise UserError(f"data-parallel training runs on CUDA GPUs (NCCL) or on CPUs (gloo), not on "
                        f"{device.type}; pass --device cpu, or train in one process")
    return device


@contextlib.contextmanager
def session(device_name: str = "auto"):
    """The process group of a torchrun launch, for the length of the block: started when
    torchrun's environment asks for more than one process and none runs yet (NCCL for CUDA,
    gloo for CPU), and closed at the end of the block. Yields ``current()``.

    A block that ends normally waits for every process first, so that no process exits while
    rank 0 still writes: torchrun stops the others as soon as one exits with an error status,
    which a stopped run's 130 or 143 is."""
    world = launched()
    if not world.distributed or (dist.is_available() and dist.is_initialized()):
        yield current()
        return
    device = training_device(device_name, world)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    try:
        yield current()
        dist.barrier()
    finally:
        dist.destroy_process_group()


def seed_process(seed: int, world: World, step: int = 0) -> None:
    """Seed this process's random streams (torch's on every device, Python's) from (seed, rank,
    step): in a data-parallel run each process must draw its own noise, or every process would
    draw the same images."""
    process_seed = (seed * 1_000_003 + step * 1_009 + world.rank + 1) % 2**63
    torch.manual_seed(process_seed)
    random.seed(process_seed)


class DataParallel(DistributedDataParallel):
    """``DistributedDataParallel`` that passes on the plain attributes of the network it wraps
    (``G.width``) and says what to do when a variant reaches for a part of it (``D.encoder``, a
    method, a tensor): computed on its own, a part bypasses the wrapper, and its gradients would
    not be averaged across the processes."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            module = self.__dict__.get("_modules", {}).get("module")
            if module is None or name.startswith("_") or not hasattr(module, name):
                raise
            value = getattr(module, name)
            if not (isinstance(value, (torch.nn.Module, torch.Tensor)) or callable(value)):
                return value
            raise AttributeError(
                f"{type(module).__name__}.{name}: in data-parallel training each trained network is wrapped in "
                f"DistributedDataParallel, which averages the gradients of what its forward computes. Call the "
                f"network itself (let forward take an argument that returns {name}'s result too), not its parts"
            ) from None


# Batch norm's statistics stay each process's own: no re-broadcast from rank 0 at each forward
# (torch 2.14 renamed broadcast_buffers=False, which also skipped the sync at construction).
_NO_FORWARD_SYNC = ({"forward_sync_buffers": False}
                    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
                    else {"broadcast_buffers": False})


def wrap(nets: dict, optimizers: dict, world: World, device: torch.device) -> dict:
    """The networks as ``train_step`` sees them. In a data-parallel run, each network that an
    optimiser trains is wrapped in its own DistributedDataParallel, never one around several
    (a GAN steps its networks apart). Buffers (batch norm's statistics) are synced from rank 0
    once, at construction, and then stay each process's own: re-broadcasting them at every
    forward (DDP's default) breaks D(real), D(fake) before one backward. A single process
    gets ``nets`` back."""
    if not world.distributed:
        return nets
    trained = {id(p) for optimizer in optimizers.values() for group in optimizer.param_groups for p in group["params"]}
    device_ids = [device.index] if device.type == "cuda" else None
    return {name: DataParallel(net, device_ids=device_ids, **_NO_FORWARD_SYNC)
            if any(id(p) in trained for p in net.parameters()) else net
            for name, net in nets.items()}


def mean(tensor: torch.Tensor, world: World) -> torch.Tensor:
    """The mean of ``tensor`` over the processes (one all-reduce; no wait on the host); the
    tensor itself in a single process."""
    if not world.distributed:
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / world.size


def agreed_stop(code: int, world: World, device: torch.device) -> int:
    """The largest stop code any process asks for (0: go on; a signal's number: stop), the same
    on every process; ``code`` in a single process. Every process must call it at the same step."""
    if not world.distributed:
        return code
    flag = torch.tensor([code], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return int(flag.item())


def gather(value, world: World) -> list | None:
    """``value`` of every process, in rank order, on rank 0 (None on the others); [value] in a
    single process. Tensors should be on the CPU."""
    if not world.distributed:
        return [value]
    gathered = [None] * world.size if world.is_main else None
    dist.gather_object(value, gathered, dst=0)
    return gathered


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()

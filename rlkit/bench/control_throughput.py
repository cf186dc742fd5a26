"""Suite ``control_throughput``: steps per second of the control envs and their batched torch model.

For each registered control env, stepped with uniform random actions: env steps per second through
``gymnasium.make`` (with its checker and order wrappers) and bare (``env.unwrapped``), and the
batched torch model's states per second (``system.discrete_step`` on ``batch`` states), one thread.
"""

from __future__ import annotations

from pathlib import Path

from rlkit.bench.report import machine_description, markdown_table, write_table
from rlkit.bench.timing import calls_within


def env_steps_per_second(env, seconds: float) -> float:
    import numpy as np

    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (1000, *env.action_space.shape)).astype(np.float32)
    env.reset(seed=0)

    def thousand_steps(_: int) -> None:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()

    calls, elapsed = calls_within(thousand_steps, seconds)
    return calls * len(actions) / elapsed


def batched_states_per_second(system, seconds: float, batch: int = 1024) -> float:
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    x = torch.as_tensor(np.broadcast_to(system.x_eq, (batch, system.n_states)).copy())
    u = torch.as_tensor(rng.uniform(system.input_low, system.input_high, (batch, system.n_inputs)))
    calls, elapsed = calls_within(lambda _: system.discrete_step(x, u), seconds)
    return calls * batch / elapsed


def run(out_dir: Path, seconds: float = 1.0, batch: int = 1024) -> None:
    """Time each control env for ``seconds`` per figure; writes results.csv and results.md."""
    import gymnasium as gym
    import torch

    import envs  # noqa: F401  (registers the envs)
    from envs.control import CONTROL_ENVS

    torch.set_num_threads(1)
    rows = []
    for env_id in CONTROL_ENVS:
        made = gym.make(env_id)
        rows.append({"env": env_id,
                     "gym_make_steps_per_s": env_steps_per_second(made, seconds),
                     "bare_steps_per_s": env_steps_per_second(made.unwrapped, seconds),
                     f"torch_batch{batch}_states_per_s": batched_states_per_second(made.unwrapped.system, seconds,
                                                                                   batch)})
        made.close()
    table = write_table(out_dir, rows, notes=(
        f"# control_throughput: control env steps/s, uniform random actions, {seconds:g} s per figure "
        f"({machine_description()})"))
    print(markdown_table(table))

"""Throughput of the control envs: ``python -m envs.control.benchmark [seconds]``.

Prints env steps per second for each registered control env, stepped with uniform random actions
through ``gymnasium.make`` (with its checker and order wrappers) and bare (``env.unwrapped``), and
the batched torch model's states per second (``system.discrete_step`` on 1024 states).
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def env_steps_per_second(env, seconds: float) -> float:
    import numpy as np

    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (1000, *env.action_space.shape)).astype(np.float32)
    env.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        steps += len(actions)
    return steps / (time.perf_counter() - start)


def batched_states_per_second(system, seconds: float, batch: int = 1024) -> float:
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    x = torch.as_tensor(np.broadcast_to(system.x_eq, (batch, system.n_states)).copy())
    u = torch.as_tensor(rng.uniform(system.input_low, system.input_high, (batch, system.n_inputs)))
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        system.discrete_step(x, u)
        calls += 1
    return calls * batch / (time.perf_counter() - start)


def main(seconds: float = 1.0) -> None:
    import gymnasium as gym
    import torch

    import envs  # noqa: F401
    from envs.control import CONTROL_ENVS

    torch.set_num_threads(1)
    print(f"{'env':28s} {'gym.make steps/s':>17s} {'bare steps/s':>13s} {'torch batch-1024 states/s':>26s}")
    for env_id in CONTROL_ENVS:
        made = gym.make(env_id)
        print(f"{env_id:28s} {env_steps_per_second(made, seconds):17,.0f} "
              f"{env_steps_per_second(made.unwrapped, seconds):13,.0f} "
              f"{batched_states_per_second(made.unwrapped.system, seconds):26,.0f}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)

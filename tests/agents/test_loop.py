"""agents.loop: the iteration loop calls the host's callback as SB3 does, counts steps, records
scalars under the agent's prefix, stops when told to or when a loss goes non-finite."""

import pytest
from stable_baselines3.common.logger import Logger

from agents.loop import HostLogging, IterationLoop, StepCounterProgressBar, connect_callback
from callback_events import EventRecorder


class Learner(HostLogging):
    """A toy iteration-based learner: ``batch`` steps per iteration, a loss per iteration."""

    def __init__(self, losses):
        self.num_timesteps, self.losses = 0, losses

    def get_env(self):
        return None

    def learn(self, total_timesteps, callback=None, progress_bar=False, reset_num_timesteps=True, batch=10):
        loop = IterationLoop(self, total_timesteps, callback, progress_bar, reset_num_timesteps, "toy")
        for loss in self.losses:
            if loop.remaining <= 0 or not loop.after_iteration(batch, {"loss": loss, "label": "text"}):
                break
        loop.finish()
        return loop


def test_the_callback_sees_sb3s_order_with_the_losses_recorded_before_rollout_start():
    recorder, agent = EventRecorder(), Learner([1.0, 0.5, 0.25])
    agent.set_logger(Logger(folder=None, output_formats=[]))
    agent.learn(30, callback=recorder)
    assert recorder.events == [("start", 0)] + [(event, n) for n in (10, 20, 30)
                                                for event in ("rollout_start", "step", "rollout_end")] + [("end", 30)]
    assert recorder.total_timesteps == 30
    assert recorder.losses == [{"toy/loss": 1.0}, {"toy/loss": 0.5}, {"toy/loss": 0.25}]


def test_a_resumed_learn_continues_the_counter_toward_an_absolute_target():
    agent = Learner([1.0] * 10)
    agent.learn(20)
    recorder = EventRecorder()
    agent.learn(20, callback=recorder, reset_num_timesteps=False)
    assert recorder.events[0] == ("start", 20) and recorder.total_timesteps == 40 and agent.num_timesteps == 40


def test_the_host_stops_training_and_later_iterations_do_not_run():
    recorder, agent = EventRecorder(stop_at=20), Learner([1.0] * 10)
    loop = agent.learn(100, callback=recorder)
    assert loop.stopped and agent.num_timesteps == 20
    assert loop.after_iteration(10) is False and agent.num_timesteps == 20


def test_a_non_finite_loss_stops_training_without_a_host_and_says_so(caplog):
    agent = Learner([1.0, float("nan"), 0.5])
    with caplog.at_level("WARNING", logger="agents.loop"):
        loop = agent.learn(100)
    assert loop.stopped and agent.num_timesteps == 20 and loop.stop_reason == "toy/loss became nan"
    assert "Learner stopped training at step 20: toy/loss became nan" in caplog.text


def test_the_progress_bar_follows_the_step_counter():
    agent = Learner([1.0] * 5)
    callback = connect_callback(agent, None, progress_bar=True)
    bars = [c for c in callback.callbacks if isinstance(c, StepCounterProgressBar)]
    assert len(bars) == 1
    loop = agent.learn(35, progress_bar=True, batch=7)
    bar = next(c for c in loop.callback.callbacks if isinstance(c, StepCounterProgressBar))
    assert bar.bar.total == 35 and bar.bar.n == 35

    loop = IterationLoop(agent, 20, None, True, True, "toy")
    loop.after_iteration(10)
    agent.num_timesteps += 5  # steps counted outside the iterations (a search's last find) still show
    loop.finish()
    bar = next(c for c in loop.callback.callbacks if isinstance(c, StepCounterProgressBar))
    assert bar.bar.n == 15


@pytest.mark.parametrize("given", [None, [], "function"])
def test_any_callback_form_the_host_may_pass_is_accepted(given):
    calls = []
    callback = (lambda _locals, _globals: calls.append(1) or True) if given == "function" else given
    agent = Learner([1.0, 1.0])
    agent.learn(20, callback=callback)
    assert agent.num_timesteps == 20 and calls == ([1, 1] if given == "function" else [])

"""The controller agents under the rlkit agent contract: construction from a control env, the SB3
callback protocol in learn(), predict through the observation/action conversions with the LQR
fallback, and save/load round trips."""

from __future__ import annotations

import inspect
import zipfile

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.base import Agent, can_act_in
from agents.checkpoint import OlderCheckpointError
from agents.mpc import ExplicitMPCAgent, LQRAgent, OnlineMPCAgent

AGENTS = (ExplicitMPCAgent, OnlineMPCAgent, LQRAgent)


def make_agent(cls, env, cache_dir):
    return cls(env=env, cache_dir=str(cache_dir)) if cls is ExplicitMPCAgent else cls(env=env)


class Recorder(BaseCallback):
    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__()
        self.events: list[tuple[str, int]] = []
        self.stop_after = stop_after

    def _on_training_start(self) -> None:
        self.events.append(("training_start", self.model.num_timesteps))

    def _on_rollout_start(self) -> None:
        self.events.append(("rollout_start", self.model.num_timesteps))

    def _on_step(self) -> bool:
        self.events.append(("step", self.num_timesteps))
        assert np.all(np.isfinite(self.locals["new_obs"])) and "rewards" in self.locals
        return self.stop_after is None or self.num_timesteps < self.stop_after

    def _on_rollout_end(self) -> None:
        self.events.append(("rollout_end", self.model.num_timesteps))

    def _on_training_end(self) -> None:
        self.events.append(("training_end", self.model.num_timesteps))


def test_the_agents_satisfy_the_contract_and_name_every_hyperparameter():
    for cls in AGENTS:
        assert can_act_in(cls, gym.spaces.Box(-1, 1, (1,)))
        assert not can_act_in(cls, gym.spaces.Discrete(2))
        parameters = inspect.signature(cls.__init__).parameters.values()
        assert not any(p.kind is p.VAR_KEYWORD for p in parameters)
    assert {"horizon", "cache_dir"} <= set(inspect.signature(ExplicitMPCAgent.__init__).parameters)
    assert "horizon" in inspect.signature(OnlineMPCAgent.__init__).parameters


@pytest.mark.parametrize("cls", AGENTS)
def test_an_env_without_a_control_system_is_refused(cls):
    with pytest.raises(ValueError, match="env Pendulum-v1 exposes no control system"):
        cls(env=gym.make("Pendulum-v1"))
    with pytest.raises(ValueError, match="exposes no control system"):
        cls(env=DummyVecEnv([lambda: gym.make("Pendulum-v1")]))


def test_a_policy_argument_is_refused(plants):
    with pytest.raises(ValueError, match="has no policy network"):
        LQRAgent("MlpPolicy", env=plants.LinearSystemEnv())


def test_a_bad_system_surfaces_at_construction(plants):
    system = plants.LinearSystem(**plants.DOUBLE_INTEGRATOR, drift=[0.0, 0.1])
    with pytest.raises(ValueError, match="is not an equilibrium"):
        OnlineMPCAgent(env=plants.LinearSystemEnv(system))


@pytest.mark.parametrize("cls", AGENTS)
def test_learn_drives_the_env_with_the_callback_protocol(cls, plants, mpc_cache_dir):
    env = DummyVecEnv([plants.LinearSystemEnv, plants.LinearSystemEnv])
    agent = make_agent(cls, env, mpc_cache_dir)
    assert isinstance(agent, Agent)
    recorder = Recorder()
    assert agent.learn(10, callback=recorder) is agent
    assert agent.num_timesteps == 10
    names = [name for name, _ in recorder.events]
    assert names[0] == "training_start" and names[-1] == "training_end"
    assert names[1:-1] == ["rollout_start", "step", "rollout_end"] * 5
    assert [t for name, t in recorder.events if name == "step"] == [2, 4, 6, 8, 10]
    # a resumed run continues the counter; a fresh one restarts it
    agent.learn(4, callback=Recorder(), reset_num_timesteps=False)
    assert agent.num_timesteps == 14
    agent.learn(4)
    assert agent.num_timesteps == 4


@pytest.mark.filterwarnings("ignore::tqdm.TqdmExperimentalWarning")
def test_a_callback_returning_false_stops_learning(plants, mpc_cache_dir):
    agent = OnlineMPCAgent(env=plants.LinearSystemEnv())  # a plain gym.Env is wrapped in a VecEnv
    recorder = Recorder(stop_after=3)
    agent.learn(100, callback=recorder, progress_bar=True)
    assert agent.num_timesteps == 3 and recorder.events[-1] == ("training_end", 3)


def test_predict_maps_observations_through_the_controller(plants, di_solution, mpc_cache_dir):
    env = plants.LinearSystemEnv()
    agent = ExplicitMPCAgent(env=env, cache_dir=str(mpc_cache_dir))
    assert agent.solution.n_regions == di_solution.n_regions and agent.solution.solve_time_s is None
    inside = np.array([[1.0, 0.5], [-4.0, 1.0], [0.0, 0.0]])
    action, state = agent.predict(inside[0])
    assert action.shape == (1,) and action.dtype == np.float32 and state is None
    actions, _ = agent.predict(inside)
    assert actions.shape == (3, 1)
    np.testing.assert_allclose(actions, env.input_to_action(di_solution.evaluate(inside)), atol=1e-6)
    assert agent.fallback_steps == 0
    # outside the explicit solution: the saturated LQR, counted
    outside = np.array([[11.0, 0.0], [9.0, 5.0]])
    actions, _ = agent.predict(outside)
    np.testing.assert_allclose(actions, env.input_to_action(agent.problem.lqr_input(outside)), atol=1e-7)
    assert agent.fallback_steps == 2
    with pytest.raises(ValueError, match=r"expected an observation of shape \(2,\)"):
        agent.predict(np.zeros(3))


def test_the_controllers_agree_inside_the_feasible_set(plants, mpc_cache_dir):
    env = plants.LinearSystemEnv()
    states = np.array([[1.0, 0.5], [-4.0, 1.0], [5.0, -1.0], [0.2, -0.3]])
    explicit, _ = ExplicitMPCAgent(env=env, cache_dir=str(mpc_cache_dir)).predict(states)
    online, _ = OnlineMPCAgent(env=env).predict(states)
    np.testing.assert_allclose(explicit, online, atol=1e-6)
    lqr, _ = LQRAgent(env=env).predict(states[-1:])  # near the origin no constraint is active
    np.testing.assert_allclose(lqr, online[-1:], atol=1e-6)


@pytest.mark.parametrize("cls", AGENTS)
def test_save_load_round_trip_predicts_identically(cls, plants, mpc_cache_dir, tmp_path):
    env = plants.LinearSystemEnv()
    agent = make_agent(cls, env, mpc_cache_dir)
    agent.learn(5)
    observations = np.random.default_rng(0).uniform(-12, 12, (300, 2))
    expected, _ = agent.predict(observations)
    agent.save(tmp_path / "agent")  # ".zip" is added, as SB3 does
    with zipfile.ZipFile(tmp_path / "agent.zip") as archive:  # arrays and JSON, no pickle
        assert sorted(archive.namelist()) == ["meta.json", "tensors.safetensors"]
    loaded = cls.load(tmp_path / "agent", env=DummyVecEnv([plants.LinearSystemEnv]))
    assert loaded.num_timesteps == 5 and loaded.hyperparameters == agent.hyperparameters
    assert loaded.problem.fingerprint() == agent.problem.fingerprint()
    np.testing.assert_array_equal(loaded.predict(observations)[0], expected)
    if cls is ExplicitMPCAgent:  # the saved regions, not a solution solved again
        assert loaded.controller is not None and loaded.solution.n_regions == agent.solution.n_regions
    without_env = cls.load(tmp_path / "agent.zip")  # an env without a Gymnasium spec cannot be remade
    with pytest.raises(ValueError, match="pass env= to load"):
        without_env.predict(observations)
    other = LQRAgent if cls is not LQRAgent else OnlineMPCAgent
    with pytest.raises(ValueError, match=f"holds a {cls.__name__}, not a {other.__name__}"):
        other.load(tmp_path / "agent.zip")


def test_a_pickled_checkpoint_is_refused_unopened(tmp_path):
    with zipfile.ZipFile(tmp_path / "old.zip", "w") as archive:
        archive.writestr("data.pkl", b"anything")
        archive.writestr("meta.json", "{}")
    with pytest.raises(ValueError, match="not a saved rlkit agent|older rlkit"):  # the format-1 layout
        LQRAgent.load(tmp_path / "old.zip")
    with zipfile.ZipFile(tmp_path / "older.zip", "w") as archive:
        archive.writestr("data.pkl", b"anything")
    with pytest.raises(OlderCheckpointError, match="older rlkit"):
        LQRAgent.load(tmp_path / "older.zip")


def test_load_refuses_an_env_with_other_dimensions(plants, tmp_path):
    OnlineMPCAgent(env=plants.LinearSystemEnv()).save(tmp_path / "agent.zip")
    system = plants.LinearSystem(A=[[0.5]], B=[[1.0]], Q=1.0, R=1.0, state_low=[-1], state_high=[1],
                                 input_low=[-1], input_high=[1])
    with pytest.raises(ValueError, match="has 1 states and 1 inputs; this agent controls 2 states"):
        OnlineMPCAgent.load(tmp_path / "agent.zip", env=plants.LinearSystemEnv(system, [-0.5], [0.5]))


# -- with the project's own control environments -----------------------------------------------
def _control_env(env_id: str):
    import envs  # noqa: F401  (registers rlkit's environments)

    return gym.make(env_id)


def test_a_registered_env_is_remade_when_loading_without_one(mpc_cache_dir, tmp_path):
    env = _control_env("rlkit/DoubleIntegrator-v0")
    agent = ExplicitMPCAgent(env=env, cache_dir=str(mpc_cache_dir))
    observations = np.stack([env.reset(seed=seed)[0] for seed in range(20)])
    expected, _ = agent.predict(observations)
    agent.save(tmp_path / "agent.zip")
    loaded = ExplicitMPCAgent.load(tmp_path / "agent.zip")
    np.testing.assert_array_equal(loaded.predict(observations)[0], expected)


def test_explicit_mpc_regulates_the_double_integrator_env(mpc_cache_dir):
    env = _control_env("rlkit/DoubleIntegrator-v0")
    agent = ExplicitMPCAgent(env=DummyVecEnv([lambda: env]), cache_dir=str(mpc_cache_dir))
    agent.learn(60)
    observation, _ = env.reset(seed=3)
    for _ in range(50):
        observation, _, terminated, truncated, info = env.step(agent.predict(observation)[0])
        assert info["violations"] == 0
    assert np.linalg.norm(env.unwrapped.observation_to_state(observation)) < 1e-3
    assert agent.fallback_steps == 0


def test_rlkit_trains_and_evaluates_explicit_mpc(cli, tmp_path, mpc_cache_dir):
    run_dir = tmp_path / "run"
    code, out, err = cli("train", "env=double_integrator", "agent=explicit_mpc", "total_timesteps=100",
                         "progress_bar=false", "eval.every=0", "eval.episodes=2", f"run_dir={run_dir}",
                         f"agent.cache_dir={mpc_cache_dir}")
    assert code == 0, err
    code, out, err = cli("evaluate", f"run={run_dir}", "episodes=2")
    assert code == 0, err


def test_rlkit_refuses_lqr_on_an_env_without_a_system(cli, tmp_path):
    code, out, err = cli("train", "env=Pendulum-v1", "agent=lqr", "total_timesteps=10", "progress_bar=false",
                         f"run_dir={tmp_path / 'run'}")
    assert code != 0
    assert "exposes no control system" in err

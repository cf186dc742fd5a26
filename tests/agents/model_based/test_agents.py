"""agent=er_dqn, model_dqn, perfect_model_dqn (agents.model_based): the replay buffer, the DQN learner,
the learned model, rollouts on the learned model and on the simulator, the agent surface and the host,
with tiny networks and batches."""

from __future__ import annotations

import json
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.model_based.agents import ERDQN, ModelDQN, PerfectModelDQN
from agents.model_based.buffer import ReplayBuffer
from agents.model_based.learner import DQNLearner
from agents.model_based.models import LearnedModel, SimulatorModel, imagine
from envs.gridworlds.pan_flute import PanFluteEnv
from envs.gridworlds.proc_maze import ProcMazeEnv
from gridworld_data import pan_flute_transitions

CPU = torch.device("cpu")
TINY = dict(hidden=[32, 32], batch_size=40, learning_starts=50, updates_per_step=1, buffer_size=2000)
TINY_MODEL = dict(TINY, model_batch_size=16, rollout_length=4)


def tiny(cls, env, **settings):
    base = TINY if cls is ERDQN else TINY_MODEL
    return cls(env=env, seed=3, device="cpu", **{**base, **settings})


# -- replay buffer -------------------------------------------------------------------------------
def test_buffer_wraps_around_and_round_trips_through_its_arrays(tmp_path):
    buffer = ReplayBuffer(5, obs_dim=2)
    for start in (0, 3):  # 3 rows, then 4 rows: the last 2 overwrite the oldest
        n = 3 if start == 0 else 4
        values = np.arange(start, start + n, dtype=np.float32)
        buffer.add(np.stack([values, values], 1), values.astype(int), values, np.stack([values + 1] * 2, 1),
                   values % 2)
    assert len(buffer) == 5 and buffer.position == 2
    np.testing.assert_array_equal(buffer.obs[:, 0], [5, 6, 2, 3, 4])  # rows 0 and 1 overwritten by 5, 6
    np.testing.assert_array_equal(buffer.actions, [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(buffer.next_obs[:, 1], buffer.obs[:, 1] + 1)
    np.testing.assert_array_equal(buffer.terminated, [1, 0, 0, 1, 0])
    batch = buffer.sample(200, np.random.default_rng(0))
    assert set(batch["actions"]) == {2, 3, 4, 5, 6}
    np.testing.assert_array_equal(batch["rewards"], batch["obs"][:, 0])  # rows stay together
    buffer.save(tmp_path / "buffer.npz")
    copy = ReplayBuffer.load(tmp_path / "buffer.npz")
    for name in ("obs", "next_obs", "actions", "rewards", "terminated"):
        np.testing.assert_array_equal(getattr(copy, name), getattr(buffer, name))
    assert (copy.position, copy.size) == (buffer.position, buffer.size)
    with pytest.raises(ValueError, match="empty replay buffer"):
        ReplayBuffer(3, 2).sample(1, np.random.default_rng(0))


# -- the learner ---------------------------------------------------------------------------------
def test_q_updates_lower_the_td_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    learner = DQNLearner(6, 3, [64, 64], 3e-3, 0.9, 0.1, target_update_every=10_000, device=CPU)
    gen = torch.Generator().manual_seed(0)
    n = 64
    batch = {"obs": torch.rand(n, 6, generator=gen), "actions": torch.randint(3, (n,), generator=gen),
             "rewards": torch.randn(n, generator=gen), "next_obs": torch.rand(n, 6, generator=gen),
             "continuation": torch.ones(n), "weights": torch.ones(n)}
    before = learner.update(batch)  # the loss before the step
    for _ in range(300):
        after = learner.update(batch)
    assert after < 0.3 * before, (before, after)
    # a weight of 0 removes a transition from the loss
    zeroed = dict(batch, weights=torch.zeros(n))
    assert float(learner.td_loss(zeroed).detach()) == 0.0


def test_softmax_policy_follows_the_temperature():
    learner = DQNLearner(2, 3, [8], 1e-3, 0.9, temperature=1.0, target_update_every=1, device=CPU)
    obs = torch.rand(4, 2)
    q = learner.q(obs).detach()
    np.testing.assert_allclose(learner.policy_probabilities(obs), torch.softmax(q, -1), rtol=1e-6)
    learner.temperature = 1e-4  # near greedy
    assert torch.equal(learner.policy_probabilities(obs).argmax(-1), q.argmax(-1))


# -- the learned model ---------------------------------------------------------------------------
def test_learned_model_learns_pan_flutes_shift_registers():
    torch.manual_seed(0)
    train, held_out = pan_flute_transitions(3000, seed=0), pan_flute_transitions(500, seed=1)
    model = LearnedModel(15, 5, [64, 64], 3e-3, CPU)
    rng = np.random.default_rng(0)
    for _ in range(600):
        rows = torch.as_tensor(rng.integers(3000, size=64))
        model.update({key: value[rows] for key, value in train.items()})
    rewards, continuation, probabilities = model.predict(held_out["obs"], held_out["actions"])
    bit_accuracy = float(((probabilities > 0.5).float() == held_out["next_obs"]).float().mean())
    exact = float(((probabilities > 0.5).float() == held_out["next_obs"]).all(-1).float().mean())
    assert bit_accuracy > 0.995 and exact > 0.95, (bit_accuracy, exact)
    assert float(continuation.min()) > 0.95  # a continuing task: nothing terminates
    assert float((rewards - held_out["rewards"]).abs().max()) < 0.5


# -- rollouts --------------------------------------------------------------------------------------
class ScriptedPolicy:
    """Stands in for the learner in imagine(): plays a fixed action sequence in every rollout."""

    def __init__(self, actions):
        self.actions, self.step = actions, 0

    def sample_actions(self, obs, generator=None):
        action = self.actions[self.step]
        self.step += 1
        return torch.full((len(obs),), action, dtype=torch.long)


def test_simulator_rollout_pays_the_pan_flute_tune_known_answer():
    env = PanFluteEnv(spontaneous_prob=0.0)
    env.reset(seed=0)
    model = SimulatorModel(env, seed=0)
    start = torch.zeros(2, 15)
    rollouts = imagine(model, ScriptedPolicy([4, 3, 2, 1, 0, 0]), start, 6)
    np.testing.assert_array_equal(rollouts["rewards"].reshape(2, 6), [[0, 0, 0, 0, 0, 1]] * 2)
    last_bits = rollouts["next_obs"].reshape(2, 6, 15)[:, 4, env.tails]
    assert torch.all(last_bits == 1)  # after 4,3,2,1,0 every pipe's last bit is set
    assert torch.all(rollouts["continuation"] == 1) and torch.all(rollouts["weights"] == 1)


def test_simulator_rollouts_equal_stepping_the_real_env_from_the_same_state():
    env = ProcMazeEnv(grid_size=4, teleport_prob=0.0)
    starts, source = [], ProcMazeEnv(grid_size=4, teleport_prob=0.0)
    for seed in range(6):
        obs, _ = source.reset(seed=seed)
        starts.append(obs)
    player_on_goal = starts[0].reshape(16, 4).copy()
    player_on_goal[:, 0] = player_on_goal[:, 1]  # the player stands on the goal: the next step terminates
    starts.append(player_on_goal.reshape(-1))
    env.reset(seed=0)
    learner = DQNLearner(64, 5, [16], 1e-3, 0.9, temperature=1.0, target_update_every=1, device=CPU)
    rollouts = imagine(SimulatorModel(env, seed=0), learner, torch.as_tensor(np.array(starts)), 5,
                       torch.Generator().manual_seed(0))
    length = 5
    for i, start in enumerate(starts):
        real = ProcMazeEnv(grid_size=4, teleport_prob=0.0)
        real.reset(seed=0)
        real.set_state_from_observation(start)
        obs, running = start, True
        for k in range(length):
            row = i * length + k
            assert rollouts["weights"][row] == float(running)
            if not running:
                assert rollouts["continuation"][row] == 0
                continue
            np.testing.assert_array_equal(rollouts["obs"][row], obs)
            obs, reward, terminated, _, _ = real.step(int(rollouts["actions"][row]))
            np.testing.assert_array_equal(rollouts["next_obs"][row], obs)
            assert rollouts["rewards"][row] == reward and rollouts["continuation"][row] == float(not terminated)
            running = not terminated
    assert rollouts["continuation"][(len(starts) - 1) * length] == 0  # the start on the goal terminated


def test_imagined_transitions_have_the_right_shapes_and_weights_in_0_1():
    env = gym.make("rlkit/ProcMaze-v0")
    agent = tiny(ModelDQN, env, batch_size=30, rollout_length=4, learning_starts=200)
    agent.learn(200)  # random steps only: the buffer holds terminations
    assert agent.n_rollouts == 8  # ceil(30 / 4)
    batch = agent.imagined_batch()
    assert batch["obs"].shape == batch["next_obs"].shape == (30, 64)
    for key in ("actions", "rewards", "continuation", "weights"):
        assert batch[key].shape == (30,)
    assert set(torch.unique(batch["next_obs"]).tolist()) <= {0.0, 1.0}  # sampled bits
    for key in ("continuation", "weights"):
        assert torch.all((batch[key] >= 0) & (batch[key] <= 1))
    weights = batch["weights"][:28].reshape(7, 4)
    assert torch.all(weights[:, 0] == 1) and torch.all(weights[:, 1:] <= weights[:, :-1])
    np.testing.assert_allclose(weights[:, 1:], weights[:, :-1] * batch["continuation"][:28].reshape(7, 4)[:, :-1],
                               rtol=1e-6)


def test_imagined_share_splits_the_batch_and_zero_is_experience_replay_exactly():
    mixed = tiny(ModelDQN, gym.make("rlkit/PanFlute-v0"), imagined_share=0.25)
    mixed.learn(60)
    batch = mixed.q_batch()
    assert len(batch["obs"]) == 40 and mixed.n_imagined == 10
    assert torch.all(batch["weights"][10:] == 1)  # the 30 real ones
    # share 0: the same seed gives the same batches, updates and weights as er_dqn
    er = tiny(ERDQN, gym.make("rlkit/PanFlute-v0"))
    replay = tiny(ModelDQN, gym.make("rlkit/PanFlute-v0"), imagined_share=0.0)
    er.learn(120)
    replay.learn(120)
    assert er.learner.updates == replay.learner.updates > 0
    for name, tensor in er.learner.q.state_dict().items():
        assert torch.equal(tensor, replay.learner.q.state_dict()[name]), name


def capture_logs(agent) -> list[dict]:
    """The scalars of each logger dump the agent makes."""
    from stable_baselines3.common.logger import KVWriter, Logger

    dumps: list[dict] = []

    class Capture(KVWriter):
        def write(self, key_values, key_excluded, step=0):
            dumps.append(dict(key_values))

    agent.set_logger(Logger(folder=None, output_formats=[Capture()]))
    return dumps


@pytest.mark.parametrize("cls", [ERDQN, ModelDQN, PerfectModelDQN])
def test_save_load_round_trip_is_exact(tmp_path, cls):
    env = gym.make("rlkit/ProcMaze-v0")
    agent = tiny(cls, env)
    dumps = capture_logs(agent)
    agent.learn(80)
    assert np.isfinite(dumps[-1]["train/loss"]) and dumps[-1]["train/n_updates"] == 31
    if cls is ModelDQN:
        assert {"train/model_reward_loss", "train/model_termination_loss", "train/model_next_obs_loss",
                "train/imagined_weight_mean"} <= set(dumps[-1])
    obs = np.stack([env.reset(seed=s)[0] for s in range(20)])
    agent.save(tmp_path / "agent")
    agent.save_replay_buffer(tmp_path / "buffer.npz")
    with zipfile.ZipFile(tmp_path / "agent.zip") as archive:  # the one checkpoint format: JSON and tensors
        assert sorted(archive.namelist()) == ["meta.json", "tensors.safetensors"]
    loaded = cls.load(tmp_path / "agent.zip", env=env, device="cpu")
    loaded.load_replay_buffer(tmp_path / "buffer.npz")
    assert loaded.hyperparameters == agent.hyperparameters and loaded.num_timesteps == agent.num_timesteps
    assert len(loaded.replay_buffer) == len(agent.replay_buffer) == 80
    np.testing.assert_array_equal(loaded.predict(obs)[0], agent.predict(obs)[0])
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=False)[0],
                                  agent.predict(obs, deterministic=False)[0])
    assert loaded.predict(obs[0])[0].shape == ()
    assert set(loaded.get_parameters()) == set(agent.get_parameters())
    # resumed on a fresh env, the loaded agent trains exactly as the saved one goes on training
    for each in (agent, loaded):
        each.set_env(gym.make("rlkit/ProcMaze-v0"))
        each.learn(30, reset_num_timesteps=False)
    assert loaded.num_timesteps == agent.num_timesteps == 110 and loaded.learner.updates == agent.learner.updates
    for name, parameters in agent.get_parameters().items():
        for key, tensor in parameters.items():
            assert torch.equal(tensor, loaded.get_parameters()[name][key]), (name, key)
    np.testing.assert_array_equal(loaded.replay_buffer.obs, agent.replay_buffer.obs)
    assert loaded.rng.random() == agent.rng.random()


def test_a_checkpoint_of_an_older_rlkit_is_refused_without_being_opened(tmp_path):
    from agents.checkpoint import OlderCheckpointError

    with zipfile.ZipFile(tmp_path / "old.zip", "w") as archive:
        archive.writestr("data.pkl", b"not unpickled")
    with pytest.raises(OlderCheckpointError, match="written by an older rlkit"):
        ERDQN.load(tmp_path / "old.zip")
    agent = tiny(ModelDQN, gym.make("rlkit/ProcMaze-v0"))
    agent.save(tmp_path / "model")
    with pytest.raises(ValueError, match="holds a ModelDQN, not a ERDQN"):
        ERDQN.load(tmp_path / "model.zip")
    (tmp_path / "buffer.pkl").write_bytes(b"a pickle")
    with pytest.raises(OlderCheckpointError):
        agent.load_replay_buffer(tmp_path / "buffer.pkl")


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, settings, message", [
    (ModelDQN, {"rollout_length": 0}, "rollout_length must be an integer >= 1"),
    (ModelDQN, {"imagined_share": 1.5}, r"imagined_share must be a number in \[0, 1\]"),
    (ModelDQN, {"imagined_share": -0.1}, r"imagined_share must be a number in \[0, 1\]"),
    (ModelDQN, {"model_batch_size": 0}, "model_batch_size must be an integer >= 1"),
    (ModelDQN, {"n_rollouts": 2}, "cannot supply the 40 imagined transitions"),
    (PerfectModelDQN, {"rollout_length": 0}, "rollout_length must be an integer >= 1"),
    (ERDQN, {"batch_size": 0}, "batch_size must be an integer >= 1"),
    (ERDQN, {"temperature": 0.0}, "temperature must be a positive number"),
    (ERDQN, {"gamma": 1.5}, r"gamma must be a number in \[0, 1\]"),
    (ERDQN, {"hidden": []}, "hidden must be a non-empty list"),
])
def test_bad_settings_are_refused_by_name(cls, settings, message):
    with pytest.raises(ValueError, match=message):
        tiny(cls, gym.make("rlkit/PanFlute-v0"), **settings)


def test_hyperparameters_are_the_constructors_keyword_arguments():
    import inspect

    from rlkit import catalogue

    with pytest.raises(TypeError, match="unexpected keyword argument 'rollout_length'"):
        tiny(ERDQN, gym.make("rlkit/PanFlute-v0"), rollout_length=3)  # experience replay has no rollouts
    for name in ("er_dqn", "model_dqn", "latent_model_dqn", "perfect_model_dqn"):
        config = catalogue.entry_config("agent", name)
        agent_class = catalogue.resolve_factory(config["factory"])
        names = catalogue.hyperparameter_names(agent_class)
        assert names == set(config) - {"factory"}, name  # the YAML lists every one, nothing else
        defaults = {}
        for klass in reversed(agent_class.__mro__):
            if "__init__" in klass.__dict__ and klass.__module__ == agent_class.__module__:
                defaults |= {p.name: p.default for p in inspect.signature(klass.__init__).parameters.values()}
        for key in names:  # the YAML repeats the constructor's defaults, a class docstring documents each
            default = list(defaults[key]) if isinstance(defaults[key], tuple) else defaults[key]
            assert config[key] == default, (name, key)
            assert any(f"\n    {key}\n" in (klass.__doc__ or "") for klass in agent_class.__mro__), (name, key)


def test_an_unknown_hyperparameter_is_answered_with_the_real_ones(cli, runs_root):
    code, _, err = cli("train", "env=proc_maze", "agent=er_dqn", "agent.learning_rat=1", f"runs_root={runs_root}")
    assert code == 2 and "has no hyper-parameter 'learning_rat' (did you mean learning_rate" in err
    assert "allowed: batch_size, buffer_size, gamma, hidden, learning_rate, learning_starts" in err


def test_envs_the_agents_cannot_use_are_refused():
    with pytest.raises(ValueError, match="needs an env that can restore its state from an observation"):
        PerfectModelDQN(env=gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="needs 0/1 observations"):
        ModelDQN(env=gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="acts in a Discrete action space"):
        ERDQN(env=gym.make("Pendulum-v1"))
    ERDQN(env=gym.make("CartPole-v1"), hidden=[8])  # experience replay needs no model


# -- the host --------------------------------------------------------------------------------------
HOST_TINY = ["agent.hidden=[32,32]", "agent.batch_size=32", "agent.updates_per_step=1", "eval.every=500",
             "checkpoint.every=1000"]


@pytest.mark.parametrize("agent, extra", [("er_dqn", []), ("model_dqn", ["agent.model_batch_size=16"])])
def test_rlkit_trains_and_resumes_on_pan_flute(cli, train_run, agent, extra):
    run = train_run("env=pan_flute", f"agent={agent}", "total_timesteps=1500", *HOST_TINY, *extra)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["num_timesteps"] == 1500
    assert summary["evaluations"] >= 3 and summary["timing"]["ms_per_update"] > 0
    assert (run / "checkpoints" / "latest" / "replay_buffer.npz").is_file()
    if agent == "er_dqn":  # a resumed run restores the agent and its replay buffer
        code, _, err = cli("train", f"resume={run}", "total_timesteps=2000", "progress_bar=false")
        assert code == 0, err
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["num_timesteps"] == 2000


def test_rlkit_refuses_the_perfect_model_on_cartpole(cli, runs_root):
    code, _, err = cli("train", "env=cartpole", "agent=perfect_model_dqn", f"runs_root={runs_root}")
    assert code == 2 and "can restore its state" in err and not runs_root.exists()

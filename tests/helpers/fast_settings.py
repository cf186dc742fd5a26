"""Settings that make a training run of a few hundred steps take about a second."""

# PPO and DQN settings small enough for a run of a few hundred steps to take about a second
FAST_PPO = ["agent=ppo", "agent.n_steps=64", "agent.batch_size=32", "agent.n_epochs=1"]
FAST_DQN = ["agent=dqn", "agent.learning_starts=64", "agent.train_freq=32", "agent.gradient_steps=4",
            "agent.buffer_size=5000", "agent.policy_kwargs.net_arch=[32,32]"]
QUIET = ["progress_bar=false", "eval.episodes=2", "device=cpu"]

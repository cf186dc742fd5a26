"""Linear MPC around a control system's equilibrium, regulating to it or tracking an observed
reference: the condensed problem, its explicit solution (ppopt), an online QP (daqp) and LQR, each
also an rlkit agent.

Coordinates: :mod:`agents.mpc.problem` works in deviations from the equilibrium; the explicit
solution's regions and laws (:class:`ExplicitSolution`, :class:`Region`) and every controller and
agent take and return absolute plant states and inputs. The explicit solution's parameter is the
state ``x`` (regulation) or ``(x, x_ref)`` (tracking).
"""

from agents.mpc.agents import ControllerAgent, ExplicitMPCAgent, LQRAgent, OnlineMPCAgent, tracking_problem
from agents.mpc.controllers import ExplicitMPCController, LQRController, OnlineMPCController
from agents.mpc.explicit import ExplicitSolution, OutsideFeasibleSetError, Region
from agents.mpc.plant import PlantInterface, plant_interface
from agents.mpc.problem import CondensedQP, LinearMPCProblem, MPCSetupError

__all__ = [
    "CondensedQP",
    "ControllerAgent",
    "ExplicitMPCAgent",
    "ExplicitMPCController",
    "ExplicitSolution",
    "LQRAgent",
    "LQRController",
    "LinearMPCProblem",
    "MPCSetupError",
    "OnlineMPCAgent",
    "OnlineMPCController",
    "OutsideFeasibleSetError",
    "PlantInterface",
    "Region",
    "plant_interface",
    "tracking_problem",
]

"""A fleet: gather machine files from many nodes through an engine people already run
(Ansible, Slurm), plan one build -- or the fewest builds -- for all of them, roll the plan
out and gather the verify reports.  ``docs/fleet.md`` describes the commands.

``node`` runs on a node inside the self-contained bundle (``bundle``); ``gather`` renders
what the engine runs and reads back what it returned; ``planning`` is pure; ``rollout``
renders the install-and-verify playbook and reads its results.
"""

__all__ = ["MARK"]

# The line a node's probe prints its answer on (``torchup.fleet.node``); the bundle's own
# ``__main__`` spells it out too, since it runs before torchup can be imported.
MARK = "TORCHUP_FLEET_PROBE:"

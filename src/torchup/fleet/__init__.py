"""A fleet: gather machine files from many nodes through an engine people already run
(Ansible, Slurm), plan one build -- or the fewest builds -- for all of them, roll the plan
out and gather the verify reports.  ``docs/fleet.md`` describes the commands.

``node`` runs on a node inside the self-contained bundle (``bundle``); ``gather`` renders
what the engine runs and reads back what it returned; ``planning`` is pure; ``rollout``
renders the install-and-verify playbook and reads its results.
"""

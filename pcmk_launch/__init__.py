"""pcmk_launch: PID-1 launcher for a containerised Pacemaker/Corosync cluster."""

__version__ = "0.1.0"

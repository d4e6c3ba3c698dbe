"""acchub-mailbot: registers Business Central clients from "Invite External Accountant" emails."""

__version__ = "0.1.0"

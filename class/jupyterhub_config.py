# JupyterHub for a class of the workshop: `make class` (scripts/run_class.py) starts it with this file.
#
# Everything listens on 127.0.0.1 (the proxy for browsers, the hub's API, the facilitator's
# service); put a TLS reverse proxy in front to open it to a room (docs/facilitator.md).
# Its settings are the class's: class-settings.json in the hub's working folder (the class's
# private folder, mode 0700), written by `make class` (workshop.classroom.hub.write_settings):
# the mode ("system": one OS user per learner, the hub runs as root; "demo": everyone as you),
# the ports (the proxy's for browsers, the hub's API, the proxy's API, the facilitator's view),
# the idle culler's minutes, when the view calls a learner stuck, the shared `sam build` output
# and how long a learner's idle Lambda workers are kept.
import json
import sys
from pathlib import Path

from workshop.classroom.accounts import Accounts, authenticator_class, demo_spawner_class
from workshop.classroom.facilitator import FACILITATORS_GROUP, SERVICE_NAME

c = get_config()  # noqa: F821: JupyterHub defines it when it loads this file

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SETTINGS = json.loads(Path("class-settings.json").read_text())
CLASS_DIR = Path(SETTINGS["class_dir"])
MODE = SETTINGS["mode"]
PORT, HUB_PORT = SETTINGS["port"], SETTINGS["hub_port"]
PROXY_API_PORT, SERVICE_PORT = SETTINGS["proxy_api_port"], SETTINGS["service_port"]
IDLE_SECONDS = int(SETTINGS["idle_minutes"] * 60)
accounts = Accounts.load(CLASS_DIR / "accounts.json")

# --- the hub and its proxy, on loopback ------------------------------------------------------------
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = PORT
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = HUB_PORT
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PROXY_API_PORT}"
# configurable-http-proxy from npm, installed by `make class` from class/package-lock.json
c.ConfigurableHTTPProxy.command = [str(ROOT / "class" / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(CLASS_DIR / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{CLASS_DIR / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(CLASS_DIR / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(CLASS_DIR / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True  # stopping the class stops every learner's server and local cloud

# --- who logs in: the accounts `make class` generated ----------------------------------------------
c.JupyterHub.authenticator_class = authenticator_class()
c.ClassAuthenticator.accounts_file = str(CLASS_DIR / "accounts.json")
c.Authenticator.allowed_users = set(accounts.passwords())
c.JupyterHub.load_groups = {FACILITATORS_GROUP: {"users": sorted(accounts.facilitators)}}

# --- each learner's server: their notebooks, their local cloud with the stack, JupyterLab --------------
if MODE == "system":
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
else:
    c.JupyterHub.spawner_class = demo_spawner_class()
    c.DemoSpawner.home_root = str(CLASS_DIR / "homes")
c.Spawner.cmd = [PYTHON, "-m", "workshop.classroom.learner"]
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = "/lab/tree/notebooks/00_setup_check.ipynb"
c.Spawner.environment = {
    "WORKSHOP_PROGRESS_URL": f"http://127.0.0.1:{SERVICE_PORT}/services/{SERVICE_NAME}/",
    "WORKSHOP_SHARED_BUILD": SETTINGS["shared_build"],
    "LOCALCLOUD_LAMBDA_IDLE_SECONDS": str(SETTINGS["lambda_idle_seconds"]),
    "SAM_CLI_TELEMETRY": "0",
}
# The start deploys the stack (sam deploy, 20-40 s when a room logs in at once) before JupyterLab answers.
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 300

# --- services: the facilitator's view and the idle culler -----------------------------------------------
c.JupyterHub.services = [
    {"name": SERVICE_NAME, "url": f"http://127.0.0.1:{SERVICE_PORT}", "display": True, "oauth_no_confirm": True,
     "command": [PYTHON, "-m", "workshop.classroom.facilitator", "--data-dir", str(CLASS_DIR),
                 "--stuck-minutes", str(SETTINGS["stuck_minutes"]),
                 "--stuck-failures", str(SETTINGS["stuck_failures"])]},
    {"name": "idle-culler",
     "command": [PYTHON, "-m", "jupyterhub_idle_culler", f"--timeout={IDLE_SECONDS}",
                 f"--cull-every={max(10, min(300, IDLE_SECONDS // 4))}"]},
]
c.JupyterHub.load_roles = [
    # facilitators open the view (hub OAuth); learners do not get in
    {"name": "class-facilitator", "groups": [FACILITATORS_GROUP],
     "scopes": [f"access:services!service={SERVICE_NAME}"]},
    # the view lists who the learners are and whether their server runs
    {"name": "class-facilitator-view", "services": [SERVICE_NAME],
     "scopes": ["list:users", "read:users", "read:servers"]},
    {"name": "class-idle-culler", "services": ["idle-culler"],
     "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]},
]

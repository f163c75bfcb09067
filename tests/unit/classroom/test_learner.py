"""A learner's server start: their own copy of the notebooks, JupyterLab's command."""

from workshop.classroom.learner import copy_notebooks, project_root, server_command


def test_the_notebooks_are_copied_once_and_the_learners_own_are_kept(tmp_path):
    source = project_root() / "notebooks"
    copied = copy_notebooks(source, tmp_path)
    names = {p.relative_to(tmp_path / "notebooks").as_posix() for p in copied}
    assert "00_setup_check.ipynb" in names and "dashboard/approvals.ipynb" in names
    mine = tmp_path / "notebooks" / "02_build_state_machine.ipynb"
    mine.write_text("{my work}")
    assert copy_notebooks(source, tmp_path) == [], "nothing is copied over the learner's notebooks"
    assert mine.read_text() == "{my work}"


def test_jupyterlab_runs_with_the_hubs_arguments_and_kernels_on_private_sockets():
    command = server_command(["--debug"], "/tmp/k")
    assert command[0].endswith("jupyterhub-singleuser") and command[1] == "--debug"
    assert "--KernelManager.transport=ipc" in command and "--KernelManager.ip=/tmp/k/kernel" in command

"""Output paths are checked before the work that leads to them: one line, not a traceback at the end."""

import pytest

from ferkit.cli import main
from ferkit.errors import FerkitError, output_path


def test_output_path_makes_missing_folders(tmp_path):
    assert output_path(tmp_path / "a" / "b.onnx", "--out") == tmp_path / "a" / "b.onnx"
    assert (tmp_path / "a").is_dir()
    assert output_path(tmp_path / "c" / "d", "--out", folder=True).is_dir()


def test_output_path_refuses_what_cannot_be_written(tmp_path):
    (tmp_path / "file").touch()
    with pytest.raises(FerkitError, match=r"^--out .*file: is a file, expected a folder$"):
        output_path(tmp_path / "file", "--out", folder=True)
    with pytest.raises(FerkitError, match=r"^--out .*: is a folder, expected a file name$"):
        output_path(tmp_path, "--out")
    with pytest.raises(FerkitError, match=r"^--out .*file/x.onnx: cannot make the folder .*file \("):
        output_path(tmp_path / "file" / "x.onnx", "--out")


@pytest.mark.parametrize("args, message", [
    (["export", "--format", "onnx", "--out", "{tmp}"], "--out {tmp}: is a folder, expected a file name"),
    (["export", "--format", "onnx", "--out", "{tmp}/file/x.onnx"], "--out {tmp}/file/x.onnx: cannot make the folder"),
    (["data", "pack", "{tmp}/none.csv", "{tmp}/file/x.npz.xz"], "OUT {tmp}/file/x.npz.xz: cannot make the folder"),
    (["evaluate", "--data", "{tmp}/none.csv", "--out", "{tmp}/file"], "--out {tmp}/file: is a file, expected a folder"),
    (["evaluate", "--data", "{tmp}/none.csv", "--model-card", "{tmp}"], "--model-card {tmp}: is a folder"),
])
def test_commands_check_their_output_first(args, message, tmp_path, capsys):
    (tmp_path / "file").touch()
    assert main([a.format(tmp=tmp_path) for a in args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"ferkit: error: {message.format(tmp=tmp_path)}") and err.count("\n") == 1, err


def test_train_without_a_config_names_only_the_config(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--resume"])
    assert capsys.readouterr().err.splitlines()[-1].endswith("the following arguments are required: config")


def test_train_takes_overrides_after_resume(tmp_path, capsys):
    """`ferkit train CONFIG --resume threads=2`: the overrides count wherever they stand; other words do not."""
    assert main(["train", "configs/default.yaml", "--resume", f"out_dir={tmp_path}", "name=gone"]) == 1
    assert capsys.readouterr().err.strip() == (f"ferkit: error: {tmp_path}/gone: nothing to resume "
                                               "(no checkpoints/last.ckpt); start it without --resume")
    with pytest.raises(SystemExit):
        main(["train", "configs/default.yaml", "--resume", "--bogus"])
    assert capsys.readouterr().err.splitlines()[-1] == "ferkit: error: unrecognized arguments: --bogus"

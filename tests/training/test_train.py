"""Training on a tiny dataset the tests write: outputs, the model contract, no test-folder reads."""

from __future__ import annotations

import hashlib
import json
import shlex
import zipfile

import keras
import numpy as np
import pytest
from made_files import write_dataset

from emotion_classification.data import fer2013 as data
from emotion_classification.labels import CLASS_NAMES
from emotion_classification.models.architectures import emotion_cnn, seed_cnn
from emotion_classification.models.defaults import DEFAULT_WIDTHS, WIDE_WIDTHS
from emotion_classification.training.config import TrainConfig, build_parser, parse_train_args
from emotion_classification.training.loop import train
from emotion_classification.training.networks import class_weights
from emotion_classification.training.run_records import reproduce_command

TRAIN_PER_CLASS = 8


@pytest.fixture
def tiny_run(tmp_path, monkeypatch):
    """A fake FER2013 and a config that trains a very small model on it for one epoch."""
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    root = write_dataset(tmp_path / "fer2013", {"train": TRAIN_PER_CLASS, "test": 2})
    config = TrainConfig(data_dir=str(root), widths=(4, 4, 8, 8), head_units=8, epochs=1,
                         batch_size=16, val_fraction=0.3, warmup_epochs=0, verbose=0,
                         precision="float32", runs_dir=str(tmp_path / "runs"), name="m")
    return root, config


def run_model(tmp_path, name: str = "m"):
    """Where the run named ``name`` of the fixture's config saves its model."""
    return tmp_path / "runs" / name / "model.keras"


def test_training_never_reads_the_test_folder(tiny_run, monkeypatch):
    root, config = tiny_run
    opened = []
    real_read_face = data.read_face

    def spy(path):
        opened.append(path)
        return real_read_face(path)

    monkeypatch.setattr(data, "read_face", spy)
    listed = []
    real_list = data.list_image_files
    monkeypatch.setattr(data, "list_image_files",
                        lambda folder: listed.append(folder) or real_list(folder))
    train(config)
    assert opened, "the spy saw no file: training read the data some other way"
    assert all(path.parts[-3] == "train" for path in opened)
    assert listed and all(folder.name == "train" for folder in listed)


def test_training_writes_model_record_history_and_curves(tiny_run, tmp_path):
    _, config = tiny_run
    record = train(config)
    model_path = run_model(tmp_path)
    saved = json.loads(model_path.with_suffix(".json").read_text())
    assert record["model_path"] == str(model_path)
    assert record["run_dir"] == str(model_path.parent)
    assert saved == json.loads(json.dumps(record))
    assert saved["class_names"] == list(CLASS_NAMES)
    assert saved["input"]["shape"] == [48, 48, 1]
    assert saved["epochs_run"] == 1 and saved["wall_time_s"] > 0 and saved["best_epoch"] == 1
    assert saved["run_time_s"] >= saved["wall_time_s"]  # the whole command includes the epochs
    assert saved["data"]["train"] + saved["data"]["validation"] == TRAIN_PER_CLASS * 7
    assert saved["config"]["widths"] == [4, 4, 8, 8]
    run_dir = model_path.parent
    assert (run_dir / "history.csv").is_file() and (run_dir / "config.json").is_file()
    assert (run_dir / "figures" / "learning_curves.png").is_file()
    assert (run_dir / "checkpoint" / "manifest.json").is_file()
    assert not list(run_dir.rglob(".tmp-*"))
    # the contract: float32 (N, 48, 48, 1) raw 0..255 in, probabilities in class order out
    model = keras.models.load_model(model_path)
    probs = model.predict(np.random.default_rng(0).uniform(0, 255, (3, 48, 48, 1)).astype(
        "float32"), verbose=0)
    assert probs.shape == (3, len(CLASS_NAMES))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert model.dtype_policy.name == "float32"


def test_reproduce_command_parses_back_to_the_same_config(tiny_run):
    _, config = tiny_run
    args = shlex.split(reproduce_command(config))[4:]
    parsed = parse_train_args(args)[0]
    where = {"verbose": 0, "data_dir": None, "runs_dir": "runs", "name": None}
    assert parsed.to_dict() | where == config.to_dict() | where


def test_sqrt_class_weights_lift_rare_classes_and_average_one():
    labels = np.array([0] * 100 + [1] * 4 + [2] * 25)
    weights = class_weights(labels, "sqrt")
    assert weights[labels].mean() == pytest.approx(1.0)
    assert weights[1] / weights[0] == pytest.approx(5.0)  # sqrt(100 / 4)
    assert np.allclose(class_weights(labels, "none"), 1.0)
    with pytest.raises(ValueError, match="class_weighting"):
        class_weights(labels, "bogus")


def test_seed_cnn_matches_the_study_and_default_model_is_small():
    seed = seed_cnn()
    assert seed.input_shape == (None, 48, 48, 3)
    assert 7.5e6 < seed.count_params() < 8.0e6  # the study: about 7.8 M
    assert TrainConfig().widths == DEFAULT_WIDTHS
    default, wide = emotion_cnn(), emotion_cnn(widths=WIDE_WIDTHS)  # wide: the shipped model's
    assert default.input_shape == wide.input_shape == (None, 48, 48, 1)
    assert default.count_params() < wide.count_params()
    assert wide.count_params() * 4 < 20e6  # float32 weights under 20 MB


def test_cropping_inside_the_model_keeps_the_48x48_contract():
    """``crop_px`` trains on the centre of the face, yet the model still takes 48x48."""
    full = emotion_cnn(widths=(4, 4, 8, 8), head_units=8, crop_px=0)
    cropped = emotion_cnn(widths=(4, 4, 8, 8), head_units=8, crop_px=4)
    assert "crop" not in [layer.name for layer in full.layers]
    assert cropped.input_shape == (None, 48, 48, 1)
    assert cropped.count_params() == full.count_params()
    assert cropped.get_layer("crop").output.shape[1:3] == (40, 40)
    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48, 1)).astype("float32")
    edited = faces.copy()
    edited[:, :4] = 0  # a change confined to the cropped border does not reach the output
    np.testing.assert_allclose(cropped.predict(faces, verbose=0),
                               cropped.predict(edited, verbose=0), atol=1e-6)
    assert parse_train_args(["--crop-px", "2"])[0].crop_px == 2
    assert TrainConfig().crop_px == 4  # the default recipe trains on the 40x40 centre


def test_optimizer_choice_builds_the_named_keras_optimizer():
    from emotion_classification.training.schedules import make_optimizer

    sgd = make_optimizer(parse_train_args(["--optimizer", "sgd", "--learning-rate", "0.05"])[0], 10)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.nesterov and sgd.momentum == 0.9
    assert isinstance(make_optimizer(TrainConfig(), 10), keras.optimizers.AdamW)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer(TrainConfig(optimizer="rmsprop"), 10)


def test_batch_norm_recalibration_matches_the_clean_image_statistics():
    from emotion_classification.training.swa import recalibrate_batch_norm

    model = emotion_cnn(widths=(4, 4, 8, 8), head_units=8, dropout=0.0)
    images = np.random.default_rng(0).uniform(0, 255, (64, 48, 48, 1)).astype("float32")
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.full(layer.moving_mean.shape, 5.0, "float32"))
    before = model(images, training=False)
    recalibrate_batch_norm(model, images, batch_size=len(images))
    after = keras.ops.convert_to_numpy(model(images, training=False))
    batch_stats = keras.ops.convert_to_numpy(model(images, training=True))
    np.testing.assert_allclose(after, batch_stats, atol=1e-4)
    assert not np.allclose(keras.ops.convert_to_numpy(before), batch_stats, atol=1e-3)
    assert all(layer.momentum == 0.99 for layer in model.layers
               if isinstance(layer, keras.layers.BatchNormalization))


@pytest.fixture
def float32_policy():
    """Float32 for the test, and the global policy restored afterwards."""
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy(before)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the fused batch-norm kernel is TensorFlow's")
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("shape", [(16, 5, 5, 3), (16, 6)])
def test_fused_batch_norm_layer_matches_keras_statistics_and_output(policy, shape,
                                                                    float32_policy):
    """One training call with momentum 0: the moving statistics become the batch's, so a
    wrong variance (unbiased instead of Keras' biased) or mean shows in full."""
    from emotion_classification.training.fused_batch_norm import fuse_batch_norm

    keras.mixed_precision.set_global_policy(policy)
    x = np.random.default_rng(1).normal(3.0, 2.0, shape).astype("float32")
    inputs = keras.Input(shape[1:])
    plain = keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.0)(inputs))
    fused = keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.0)(inputs))
    fused.set_weights(plain.get_weights())
    assert fuse_batch_norm(fused) == 1
    plain_out = keras.ops.convert_to_numpy(plain(x, training=True))
    fused_out = fused(x, training=True)
    assert fused_out.dtype == plain_out.dtype == keras.mixed_precision.global_policy().compute_dtype
    tolerance = 1e-5 if policy == "float32" else 2e-2
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fused_out).astype("float32"),
                               plain_out.astype("float32"), atol=tolerance * 10)
    axes = tuple(range(len(shape) - 1))
    for layer, model in ((plain.layers[-1], "plain"), (fused.layers[-1], "fused")):
        np.testing.assert_allclose(layer.moving_mean.numpy(), x.mean(axes), rtol=tolerance,
                                   err_msg=model)
        np.testing.assert_allclose(layer.moving_variance.numpy(), x.var(axes), rtol=tolerance,
                                   err_msg=model)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the fused batch-norm kernel is TensorFlow's")
def test_fused_batch_norm_trains_like_keras_and_saves_plain_layers(tmp_path, float32_policy):
    import tensorflow as tf

    from emotion_classification.training.fused_batch_norm import fuse_batch_norm

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (32, 48, 48, 1)).astype("float32")
    targets = np.eye(7, dtype="float32")[rng.integers(0, 7, 32)]
    plain = emotion_cnn(widths=(4, 4, 8, 8), head_units=8, dropout=0.0)
    fused = emotion_cnn(widths=(4, 4, 8, 8), head_units=8, dropout=0.0)
    fused.set_weights(plain.get_weights())
    assert fuse_batch_norm(fused) == 9  # eight conv layers and the head

    def training_step(model):
        with tf.GradientTape() as tape:
            outputs = model(images, training=True)
            loss = tf.reduce_mean(keras.losses.categorical_crossentropy(targets, outputs))
        return outputs.numpy(), tape.gradient(loss, model.trainable_variables)

    plain_out, plain_grads = training_step(plain)
    fused_out, fused_grads = training_step(fused)
    np.testing.assert_allclose(fused_out, plain_out, atol=1e-4)
    for a, b in zip(plain_grads, fused_grads, strict=True):
        assert np.linalg.norm(a - b) <= 1e-2 * np.linalg.norm(a) + 1e-7
    for a, b in zip(plain.get_weights(), fused.get_weights(), strict=True):  # moving stats
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    fused.save(tmp_path / "fused.keras")
    with zipfile.ZipFile(tmp_path / "fused.keras") as archive:
        saved = json.loads(archive.read("config.json"))
    norms = [layer for layer in saved["config"]["layers"] if "_bn" in layer["name"]]
    assert len(norms) == 9
    assert {(layer["module"], layer["class_name"]) for layer in norms} == {
        ("keras.layers", "BatchNormalization")}
    loaded = keras.models.load_model(tmp_path / "fused.keras")
    np.testing.assert_allclose(loaded.predict(images, verbose=0),
                               plain.predict(images, verbose=0), atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the fused batch-norm kernel is TensorFlow's")
@pytest.mark.parametrize("fused", [True, False])
def test_training_model_uses_the_fused_kernel_as_configured(fused, float32_policy):
    from emotion_classification.training.networks import build_training_model

    config = TrainConfig(widths=(4, 4, 8, 8), head_units=8, fused_batch_norm=fused,
                         precision="float32")
    _, model = build_training_model(config, steps_per_epoch=1)
    norms = [layer for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 9
    assert all(("fused_batch_norm_call" in layer.call.__qualname__) == fused for layer in norms)


@pytest.mark.slow
def test_finish_only_completes_a_stopped_run_from_its_best_checkpoint(tiny_run, tmp_path):
    _, config = tiny_run
    train(config)
    run_model(tmp_path).unlink()
    record = train(config, finish_only=True)
    assert run_model(tmp_path).is_file()
    assert record["epochs_run"] == 1 and record["validation"]["accuracy"] >= 0


@pytest.mark.slow
def test_distillation_mixes_the_teachers_flip_averaged_soft_labels(tiny_run, tmp_path):
    from emotion_classification.models.runtimes import load_model_and_record, predict_probs
    from emotion_classification.training.distill import teacher_targets, training_targets
    from emotion_classification.training.loop import load_training_data

    _, config = tiny_run
    train(config)  # its model is the teacher below
    teacher_path = run_model(tmp_path)
    train_split, _ = load_training_data(config)
    teacher, _ = load_model_and_record(str(teacher_path))
    as_predicted = predict_probs(teacher, train_split.images, tta=True)
    plain = teacher_targets(teacher_path, train_split.images, temperature=1.0)
    np.testing.assert_allclose(plain, as_predicted / as_predicted.sum(1, keepdims=True), atol=1e-5)
    softened = teacher_targets(teacher_path, train_split.images, temperature=3.0)
    np.testing.assert_allclose(softened.sum(1), 1.0, atol=1e-5)
    assert (softened.argmax(1) == plain.argmax(1)).all()
    assert (softened.max(1) <= plain.max(1) + 1e-6).all()

    student = TrainConfig(**{**config.to_dict(), "teacher": str(teacher_path),
                             "distill_weight": 0.6, "distill_temperature": 3.0})
    targets = training_targets(student, train_split)
    hard = np.eye(len(CLASS_NAMES))[train_split.labels]
    np.testing.assert_allclose(targets, 0.4 * hard + 0.6 * softened, atol=1e-5)
    np.testing.assert_array_equal(training_targets(config, train_split), hard)
    command = reproduce_command(student)
    parsed = parse_train_args(shlex.split(command)[4:])[0]
    assert "--teacher" in command and parsed.teacher == str(teacher_path)
    assert (parsed.distill_weight, parsed.distill_temperature) == (0.6, 3.0)
    assert parse_train_args(["--teacher", "none"])[0].teacher is None


@pytest.mark.slow
def test_several_teachers_are_averaged_into_one_ensemble_teacher(tiny_run, tmp_path):
    from emotion_classification.models.runtimes import load_model_and_record, predict_probs
    from emotion_classification.training.distill import teacher_targets
    from emotion_classification.training.loop import load_training_data

    _, config = tiny_run
    paths = [run_model(tmp_path, "a"), run_model(tmp_path, "b")]
    for head_units, name in zip((8, 16), "ab", strict=True):
        train(TrainConfig(**{**config.to_dict(), "head_units": head_units, "name": name}))
    train_split, _ = load_training_data(config)
    members = [predict_probs(load_model_and_record(str(path))[0], train_split.images, tta=True)
               for path in paths]
    assert not np.allclose(members[0], members[1], atol=1e-3), "the two teachers must differ"
    mean = (members[0] + members[1]) / 2
    ensemble = teacher_targets(f"{paths[0]}, {paths[1]}", train_split.images, temperature=1.0)
    np.testing.assert_allclose(ensemble, mean / mean.sum(1, keepdims=True), atol=1e-5)

    student = TrainConfig(**{**config.to_dict(), "teacher": f"{paths[0]},{paths[1]}",
                             "name": "student"})
    record = train(student)
    assert [t["path"] for t in record["teachers"]] == [str(path) for path in paths]
    assert record["teachers"][0]["sha256"] == hashlib.sha256(paths[0].read_bytes()).hexdigest()


def cli_args(config: TrainConfig, *extra: str) -> list[str]:
    """``train`` command-line flags for ``config`` (as its reproduce command writes them)."""
    flags = shlex.split(reproduce_command(config))
    return [*flags[flags.index("train") + 1:], "--data-dir", config.data_dir,
            "--verbose", str(config.verbose), "--runs-dir", config.runs_dir,
            "--name", config.name, *extra]


@pytest.mark.slow
def test_a_teacher_that_saw_the_validation_split_is_refused(tiny_run, tmp_path, capsys):
    from emotion_classification.cli.train import main

    _, config = tiny_run
    teacher_path = run_model(tmp_path, "seed7")
    train(TrainConfig(**{**config.to_dict(), "seed": 7, "name": "seed7"}))
    status = main(cli_args(config, "--teacher", str(teacher_path)))
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 1
    assert error.startswith(f"error: {teacher_path}: teacher trained with seed 7")
    assert "has seen some of its validation faces" in error
    assert not run_model(tmp_path).exists()


def test_train_cli_names_a_missing_teacher_in_one_line(tiny_run, tmp_path, capsys):
    from emotion_classification.cli.train import main

    _, config = tiny_run
    missing_path = tmp_path / "no-teacher.keras"
    status = main(cli_args(config, "--teacher", str(missing_path)))
    error = capsys.readouterr().err
    assert status == 1 and "Traceback" not in error
    assert error.strip().splitlines()[-1] == f"error: {missing_path}: model file not found"
    assert not run_model(tmp_path).exists()


@pytest.mark.slow
def test_train_writes_only_its_run_folder_never_models_or_reports(tiny_run, tmp_path):
    from emotion_classification.training.run_records import run_dir_for
    from emotion_classification.utils.files import project_root

    def fingerprints() -> dict:
        root = project_root()
        return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
                for folder in ("models", "reports") for path in sorted((root / folder).rglob("*"))
                if path.is_file()}

    _, config = tiny_run
    before = fingerprints()
    record = train(config)
    assert fingerprints() == before
    assert record["model_path"] == str(tmp_path / "runs" / "m" / "model.keras")
    default = TrainConfig(name="20260101-120000")
    assert run_dir_for(default) == project_root() / "runs" / "20260101-120000"
    assert not {"model_path", "figure_dir", "run_dir"} & set(default.to_dict())


def test_train_help_describes_every_flag_with_its_choices_and_default(capsys):
    parser = build_parser()
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help and len(action.help.split()) >= 3, action.dest
    flags = {flag: action for action in parser._actions for flag in action.option_strings}
    for name, choices in (("--arch", {"emotion_cnn", "resnet18", "seed_cnn"}),
                          ("--mixing", {"none", "mixup", "cutmix", "both"}),
                          ("--optimizer", {"adamw", "adam", "sgd"}),
                          ("--augmentation", {"default", "seed", "erase", "none"}),
                          ("--schedule", {"cosine", "plateau"}),
                          ("--precision", {"auto", "mixed_bfloat16", "mixed_float16", "float32"}),
                          ("--class-weighting", {"none", "sqrt", "balanced"})):
        assert set(flags[name].choices) == choices, name
    assert "--no-jit-compile" in flags and "--no-fused-batch-norm" in flags
    assert "(default: 32,64,160,320)" in flags["--widths"].help
    assert parse_train_args(["--no-fused-batch-norm"])[0].fused_batch_norm is False
    assert parse_train_args(["--widths", "8,8,16,16"])[0].widths == (8, 8, 16, 16)
    with pytest.raises(SystemExit):
        parse_train_args(["--optimizer", "rmsprop"])[0]
    assert "invalid choice: 'rmsprop'" in capsys.readouterr().err


def test_old_output_flags_are_accepted_ignored_and_noted(capsys):
    config = parse_train_args(["--model-path", "models/emotion_cnn.keras", "--epochs", "3"])[0]
    assert config.epochs == 3
    assert "note: --model-path is ignored" in capsys.readouterr().err


def test_seed_generators_of_the_training_model_are_reset_from_seed_and_epoch(float32_policy):
    from emotion_classification.training.networks import build_training_model
    from emotion_classification.training.random_state import reset_seed_generators

    config = TrainConfig(widths=(4, 4, 8, 8), head_units=8, precision="float32")
    train_model, _ = build_training_model(config, steps_per_epoch=1)
    assert reset_seed_generators(train_model, seed=1, epoch=3) >= 2  # augmentation, dropout
    states = [v for v in train_model.variables if v.name == "seed_generator_state"]
    first = [keras.ops.convert_to_numpy(v).tolist() for v in states]
    train_model(np.zeros((2, 48, 48, 1), "float32"), training=True)  # draws advance them
    reset_seed_generators(train_model, seed=1, epoch=3)
    assert [keras.ops.convert_to_numpy(v).tolist() for v in states] == first
    reset_seed_generators(train_model, seed=1, epoch=4)
    assert [keras.ops.convert_to_numpy(v).tolist() for v in states] != first


def test_fused_batch_norm_falls_back_to_keras_on_a_layer_without_renorm(capsys, float32_policy):
    from emotion_classification.training.fused_batch_norm import fuse_batch_norm

    model = emotion_cnn(widths=(4, 4, 8, 8), head_units=8)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            del layer.renorm  # as on a Keras whose layer has no renorm
    calls = [layer.call for layer in model.layers]
    assert fuse_batch_norm(model) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "no renorm" in lines[0] and "Keras' own batch norm" in lines[0]
    assert [layer.call for layer in model.layers] == calls


def recorded_commands() -> list[str]:
    """Every ``train`` command stored in a ``command`` field of the committed records."""
    import json

    from emotion_classification.utils.files import project_root

    root = project_root()
    commands = []

    def walk(value, key=""):
        if isinstance(value, dict):
            for name, item in value.items():
                walk(item, name)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif key.endswith("command") and "emotion_classification train" in str(value):
            commands.append(value)

    for path in [root / "models" / "emotion_cnn.json", *sorted((root / "reports").rglob("*.json"))]:
        walk(json.loads(path.read_text()))
    return commands


def test_every_recorded_train_command_still_parses():
    import shlex


    commands = recorded_commands()
    assert commands
    for command in commands:
        words = shlex.split(command.split("emotion_classification train", 1)[1].split(";")[0])
        parse_train_args([w for w in words if not w.startswith("`")])[0]


def test_old_boolean_values_become_the_flag_forms():

    assert parse_train_args(["--fused-batch-norm", "false"])[0].fused_batch_norm is False
    assert parse_train_args(["--jit-compile", "true"])[0].jit_compile is True
    assert parse_train_args(["--no-fused-batch-norm"])[0].fused_batch_norm is False


def test_a_run_started_before_newer_fields_existed_still_resumes(tmp_path):
    """A run folder's config.json from before --mixing and --swa-start-epoch existed is the
    same config as today's with those fields at their defaults (a resume is not refused)."""
    from emotion_classification.training.run_records import RunError, check_same_config

    config = TrainConfig(name="old", runs_dir=str(tmp_path))
    older = {k: v for k, v in json.loads(json.dumps(config.to_dict())).items()
             if k not in ("mixing", "mixing_alpha", "mixing_probability", "swa_start_epoch")}
    (tmp_path / "config.json").write_text(json.dumps(older))
    check_same_config(tmp_path, config)
    with pytest.raises(RunError, match="mixing 'mixup' \\(was 'none'\\)"):
        check_same_config(tmp_path, TrainConfig(name="old", mixing="mixup"))


@pytest.mark.parametrize("name", ["../reports", "a/b", "/srv/elsewhere", "..", "a\\b", "."])
def test_a_run_name_that_leads_outside_the_runs_folder_is_refused_in_one_line(
        name, tmp_path, capsys):
    """``train --name ../reports --restart`` must not touch reports/: the name is refused
    before any folder is made, with one line and exit status 2."""
    from emotion_classification.cli import train as train_cli
    from emotion_classification.training.config import ConfigError
    from emotion_classification.training.run_records import RunError, run_dir_for

    runs = tmp_path / "runs"
    with pytest.raises(SystemExit) as refused:
        train_cli.main(["--name", name, "--restart", "--runs-dir", str(runs)])
    assert refused.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --name ") and "not one folder" in err[0]
    assert not runs.exists() and sorted(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="not one folder name"):
        train(TrainConfig(name=name, runs_dir=str(runs)))
    with pytest.raises(RunError, match="not one folder name"):
        run_dir_for(TrainConfig(name=name, runs_dir=str(runs)))


def test_arch_names_the_network_and_the_old_model_flag_still_works(tmp_path, capsys):
    """``--arch`` picks the architecture; ``--model resnet18`` (older commands and records)
    is read as ``--arch resnet18`` with a note, and a run folder whose config.json says
    ``"model"`` compares as the same config."""
    from emotion_classification.training.run_records import RunError, check_same_config

    config = parse_train_args(["--model", "resnet18", "--epochs", "3"])[0]
    assert config.arch == "resnet18" and config.epochs == 3
    assert "note: --model resnet18 is read as --arch resnet18" in capsys.readouterr().err
    assert parse_train_args(["--model", "resnet18", "--arch", "resnet18"])[0].arch == "resnet18"
    with pytest.raises(SystemExit):
        parse_train_args(["--model", "resnet18", "--arch", "seed_cnn"])
    assert "give --arch only" in capsys.readouterr().err
    assert "--arch resnet18" in reproduce_command(config)
    old = {("model" if k == "arch" else k): v
           for k, v in json.loads(json.dumps(config.to_dict())).items()}
    (tmp_path / "config.json").write_text(json.dumps(old))
    check_same_config(tmp_path, config)
    with pytest.raises(RunError, match="arch 'emotion_cnn' \\(was 'resnet18'\\)"):
        check_same_config(tmp_path, TrainConfig(epochs=3))


@pytest.mark.slow
def test_a_resumed_run_refuses_other_data_and_accepts_a_copy_of_its_own(tiny_run, tmp_path):
    """Under one --name, another --data-dir would change the validation split mid-run: it is
    refused in one line; the same images at another path resume as before."""
    import dataclasses
    import shutil

    from emotion_classification.training.checkpoint import TrainingHooks
    from emotion_classification.training.loop import TrainingInterrupted
    from emotion_classification.training.run_records import RunError

    def stop(epoch: int) -> None:
        raise KeyboardInterrupt

    root, config = tiny_run
    config = dataclasses.replace(config, epochs=2)
    with pytest.raises(TrainingInterrupted):
        train(config, hooks=TrainingHooks(after_epoch_reported=stop))
    other = write_dataset(tmp_path / "other", {"train": TRAIN_PER_CLASS + 1, "test": 2})
    with pytest.raises(RunError, match="started on other data"):
        train(dataclasses.replace(config, data_dir=str(other)))
    copy = shutil.copytree(root, tmp_path / "copy")
    record = train(dataclasses.replace(config, data_dir=str(copy)))
    assert record["epochs_run"] == 2


def test_typed_paths_are_taken_from_the_current_folder(tmp_path, monkeypatch):
    """``train --runs-dir myruns --teacher t.keras`` names folders where the user stands;
    inside the project they are written relative to it, as records name them."""
    from emotion_classification.cli.train import typed_paths
    from emotion_classification.utils.files import project_root

    monkeypatch.chdir(tmp_path)
    config = parse_train_args(["--runs-dir", "myruns", "--teacher", "a.keras,b.keras"])[0]
    assert typed_paths(config) == {"runs_dir": str(tmp_path / "myruns"),
                                   "teacher": f"{tmp_path / 'a.keras'},{tmp_path / 'b.keras'}"}
    monkeypatch.chdir(project_root() / "docs")
    config = parse_train_args(["--runs-dir", "../runs/mine", "--init-weights", "../models/x.keras"])[0]
    assert typed_paths(config) == {"runs_dir": "runs/mine", "init_weights": "models/x.keras"}
    assert typed_paths(TrainConfig()) == {}

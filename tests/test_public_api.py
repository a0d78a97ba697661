import ocfeh


def test_every_public_name_exists():
    for name in ocfeh.__all__:
        assert getattr(ocfeh, name) is not None, name


def test_run_is_the_pipeline_function_and_modules_stay_importable():
    from ocfeh.pipeline.stage import Stage

    assert callable(ocfeh.run) and ocfeh.run.__module__ == "ocfeh.pipeline.runner"
    assert Stage.__name__ == "Stage"

import sys
import textwrap

import pytest

import vlmreward_gym as vrg
from vlmreward_gym.models import registry
from vlmreward_gym.models.control import OracleRewardModel


def test_builtin_names_listed_and_made():
    names = vrg.list_reward_models()
    assert {"zero", "oracle", "noisy-oracle"} <= set(names) and names == sorted(names)
    assert isinstance(vrg.make_reward_model("oracle"), OracleRewardModel)
    assert vrg.make_reward_model("noisy-oracle", mae=0.5, seed=0).mae == 0.5


def test_unknown_name_lists_known_ones_and_suggests():
    with pytest.raises(vrg.UnknownRewardModelError) as err:
        vrg.make_reward_model("orcale")
    assert "['oracle']" in str(err.value) and "noisy-oracle" in str(err.value)


def test_register_and_duplicates_refused():
    vrg.register_reward_model("my-oracle", lambda: OracleRewardModel(tolerance=0.1))
    try:
        assert vrg.make_reward_model("my-oracle").tolerance == 0.1
        with pytest.raises(vrg.DuplicateRewardModelError, match="already registered"):
            vrg.register_reward_model("my-oracle", OracleRewardModel)
        with pytest.raises(vrg.DuplicateRewardModelError):
            vrg.register_reward_model("oracle", OracleRewardModel)
    finally:
        registry.unregister_reward_model("my-oracle")


def test_factory_must_return_a_reward_model():
    vrg.register_reward_model("not-a-model", lambda: object())
    try:
        with pytest.raises(TypeError, match="not a RewardModel"):
            vrg.make_reward_model("not-a-model")
    finally:
        registry.unregister_reward_model("not-a-model")


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """An installed third-party distribution declaring an entry point in our group."""
    (tmp_path / "thirdparty_rm.py").write_text(textwrap.dedent("""
        from vlmreward_gym.models.control import ZeroRewardModel
        class ThirdParty(ZeroRewardModel):
            def __init__(self, level=0):
                super().__init__()
                self.level = level
    """))
    dist = tmp_path / "thirdparty_rm-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-rm\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{vrg.ENTRY_POINT_GROUP}]\nthird-party = thirdparty_rm:ThirdParty\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    yield
    registry.unregister_reward_model("third-party")
    sys.modules.pop("thirdparty_rm", None)


def test_entry_point_backend_is_listed_lazily_and_made(plugin_dist):
    assert "third-party" in vrg.list_reward_models()
    assert "thirdparty_rm" not in sys.modules  # listed without importing it
    assert vrg.make_reward_model("third-party", level=3).level == 3


def test_entry_point_clashing_with_builtin_is_refused(tmp_path, monkeypatch, plugin_dist):
    dist = tmp_path / "clash-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: clash\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{vrg.ENTRY_POINT_GROUP}]\noracle = thirdparty_rm:ThirdParty\n")
    with pytest.raises(vrg.DuplicateRewardModelError, match="'oracle' is already registered"):
        vrg.list_reward_models()


def test_importing_the_plugin_imports_no_heavy_library():
    import subprocess
    code = "import sys, vlmreward_gym; print(sorted(m for m in ('torch', 'transformers', 'mani_skill', 'robosuite') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cards_tell_what_a_backend_answers_without_building_it():
    """`vlmreward models -v` and capability checks read class-level cards: no weights, no torch."""
    import subprocess
    code = textwrap.dedent("""
        import sys
        from vlmreward_gym.models.registry import check_capabilities, list_reward_models, reward_model_card
        from vlmreward_gym.types import Capability, CapabilityError
        cards = {name: reward_model_card(name) for name in list_reward_models()}
        assert cards["lrm-contrastive"].capabilities == Capability.COMPARE and cards["lrm-contrastive"].num_frames == 2
        assert cards["roboreward-8b"].weights == "teetone/RoboReward-8B" and cards["clip"].weights.startswith("path=")
        assert cards["remote"] is None  # its server says what it answers
        for name in ("clip", "lrm-progress", "roboreward-4b"):  # a form they cannot serve, refused before loading
            try:
                check_capabilities(name, Capability.COMPARE, "the contrastive reward form")
            except CapabilityError as error:
                assert "cannot answer ['compare'] for the contrastive reward form" in str(error), error
            else:
                raise AssertionError(name)
        check_capabilities("lrm-contrastive", Capability.COMPARE)
        print(sorted(m for m in ("torch", "transformers") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name, kwargs", [("zero", {}), ("oracle", {}), ("noisy-oracle", {"mae": 0.5})])
def test_a_card_agrees_with_the_built_model(name, kwargs):
    card, info = registry.reward_model_card(name), vrg.make_reward_model(name, **kwargs).info
    assert (card.capabilities, card.needs_frames, card.needs_oracle) == (info.capabilities, info.needs_frames,
                                                                         info.needs_oracle)

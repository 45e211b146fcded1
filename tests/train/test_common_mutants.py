"""Session 43 mutation audit of the training loops' shared machinery (train/common.py): the
learning-rate schedule and its cycles, the loop clock (validation and checkpoint times), one
optimiser step with the weight average, and ``--init`` on a resumed run.

Each test here was written for a hand-made bug ("mutant") that the rest of the suite let through
(docs/model_history.md, Session 43, sums up the mutants and what catches them). The expected
values come from the docstrings, worked out by hand; time is frozen where the clock is read, so
no test here depends on how fast the machine is.
"""
import logging
import math
from types import SimpleNamespace

import pytest
import torch

import train.common as common
from train.common import LoopClock, WeightEMA, init_unless_resumed, lr_at, optimizer_step, save_checkpoint, start_cycle
from train.model import LandmarkModelConfig, build_net


def _cfg(**kw):
    base = dict(lr=1.0, warmup_steps=1, minutes=90.0, max_steps=0, new_cycle=False, eval_every_min=5.0,
                checkpoint_every_min=3.0)
    return SimpleNamespace(**{**base, **kw})


def _cosine(frac: float) -> float:
    """The schedule's factor after the warm-up (lr_at's docstring: cosine down to 2%)."""
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac))


# == lr_at: the budget that ends sooner ends the cosine ==========================================
@pytest.mark.parametrize("minutes_budget, max_steps, step, minute, frac", [
    (90.0, 100, 100, 1.0, 1.0),       # the step budget ends first: the floor at its last step
    (90.0, 100, 50, 1.0, 0.5),        # half the steps in 1 of 90 minutes: half-way down
    (90.0, 100, 10, 45.0, 0.5),       # half the minutes in a tenth of the steps: half-way down too
    (10.0, 10**6, 5, 10.0, 1.0),      # the minutes end first
    (90.0, 0, 10**6, 45.0, 0.5),      # no step budget: minutes alone
])
def test_the_cosine_follows_whichever_budget_ends_sooner(minutes_budget, max_steps, step, minute, frac):
    cfg = _cfg(minutes=minutes_budget, max_steps=max_steps)
    assert lr_at(cfg, step, minute) == pytest.approx(_cosine(frac), rel=1e-9)


# == start_cycle ==================================================================================
def test_a_new_cycle_needs_minutes_beyond_those_trained():
    """--minutes equal to the minutes already trained leaves a cycle of no length (its cosine would
    divide by the 1e-6 floor): refused as a shorter budget is."""
    with pytest.raises(ValueError, match="--minutes 120"):
        start_cycle(_cfg(minutes=120.0, new_cycle=True), {"step": 5, "minutes": 120.0})


def test_a_resume_with_a_longer_budget_starts_another_cycle():
    """start_cycle's docstring: the stored cycle continues only when the resume has the same
    --minutes; a resume of a finished cycle with a longer --minutes and --new-cycle starts a new one
    at the current step and minute."""
    state = {"step": 1000, "minutes": 120.0}
    first = start_cycle(_cfg(minutes=200.0, new_cycle=True), state)
    state.update(step=4000, minutes=200.0)
    second = start_cycle(_cfg(minutes=300.0, new_cycle=True), state)
    assert second == {"step": 4000, "minutes": 200.0, "end": 300.0} != first
    assert state["cycle"] == second


# == LoopClock ====================================================================================
class _FrozenTime:
    def __init__(self, t0: float = 1_000_000.0):
        self.now = t0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock_time(monkeypatch):
    t = _FrozenTime()
    monkeypatch.setattr(common.time, "time", t)
    return t


def _opt():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=123.0)


def test_the_step_learning_rate_follows_the_runs_cycle(clock_time):
    """A resumed run with --new-cycle warms up again: the loop's own clock must hand the cycle to
    the schedule (lr_at on its own passes; the loop's steps would follow the old cosine)."""
    cfg = _cfg(lr=1e-3, warmup_steps=10, minutes=200.0, new_cycle=True)
    state = {"step": 1000, "minutes": 120.0, "history": [{"step": 1000}]}
    cyc = start_cycle(cfg, state)
    clock = LoopClock(cfg, state, cyc)
    opt = _opt()
    lr = clock.tick(opt)
    assert state["minutes"] == pytest.approx(120.0)
    assert lr == pytest.approx(1e-4) == opt.param_groups[0]["lr"]   # warm-up step 1 of 10 at the new peak


def test_validation_is_due_once_per_interval(clock_time):
    """eval_due: True once an interval has passed, and that validation counts as run: the next one
    is due an interval later (not at every following step)."""
    state = {"step": 10, "minutes": 0.0, "history": [{"step": 0}]}
    clock = LoopClock(_cfg(eval_every_min=5.0), state)
    due = []
    for m in (1.0, 4.99, 5.0, 5.01, 6.0, 9.99, 10.0, 10.5):
        state["minutes"] = m
        due.append(clock.eval_due())
    assert due == [False, False, True, False, False, False, True, False]


def test_checkpoints_are_due_every_given_real_minutes(clock_time):
    """--checkpoint-every-min counts minutes of wall-clock time, not seconds."""
    clock = LoopClock(_cfg(checkpoint_every_min=1.0), {"step": 0, "minutes": 0.0, "history": []})
    due = []
    for dt in (30.0, 59.0, 60.0, 61.0, 119.0, 120.5):
        clock_time.now = 1_000_000.0 + dt
        due.append(clock.checkpoint_due())
    assert due == [False, False, True, False, False, True]


# == optimizer_step ===============================================================================
def _linear_step_setup():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1, bias=False)
    x = torch.tensor([[1.0, 2.0, -1.0]])
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    return net, x, opt


def test_each_step_uses_its_own_gradient_only():
    """loss = w . x has the gradient x at every step: two SGD steps move w by 2 * lr * x; gradients
    left over from the step before would move it by 3 * lr * x."""
    net, x, opt = _linear_step_setup()
    w0 = net.weight.detach().clone()
    state = {"step": 0}
    for _ in range(2):
        optimizer_step(opt, net(x).sum(), state)
    assert torch.allclose(net.weight.detach(), w0 - 2 * 0.5 * x, atol=1e-6)
    assert state["step"] == 2


def test_the_weight_average_takes_the_updated_weights():
    """WeightEMA.update is called after the optimiser's update (optimizer_step's docstring): after
    the first step the average is w0 + (1 - d) * (w1 - w0), d = 2 / 11 (the warm-up's first decay);
    taken before the update it would still be w0."""
    net, x, opt = _linear_step_setup()
    w0 = net.weight.detach().clone()
    ema = WeightEMA(net, 0.999)
    optimizer_step(opt, net(x).sum(), {"step": 0}, ema=ema, net=net)
    w1 = net.weight.detach()
    assert not torch.allclose(w1, w0)
    assert torch.allclose(ema.net.weight, w0 + (1 - 2 / 11) * (w1 - w0), atol=1e-6)


# == init_unless_resumed ==========================================================================
def test_init_is_not_applied_to_a_resumed_run(tmp_path, caplog):
    """--init starts a new run; on a resumed one (step > 0) the resumed weights stay and a warning
    says --init was not used."""
    mcfg = LandmarkModelConfig(input_size=64, width=0.25, decoder_channels=8).to_dict()
    torch.manual_seed(1)
    other = build_net(mcfg)
    path = tmp_path / "other.pt"
    save_checkpoint(path, model=other.state_dict(), model_config=mcfg)
    torch.manual_seed(2)
    net = build_net(mcfg)
    resumed = {k: v.clone() for k, v in net.state_dict().items()}
    with caplog.at_level(logging.WARNING, logger="train"):
        init_unless_resumed(net, str(path), {"step": 5}, mcfg, torch.device("cpu"), tmp_path / "last.pt")
    assert all(torch.equal(v, resumed[k]) for k, v in net.state_dict().items())
    assert "--init" in caplog.text and "ignored" in caplog.text
    # a new run (step 0) takes them
    init_unless_resumed(net, str(path), {"step": 0}, mcfg, torch.device("cpu"), tmp_path / "last.pt")
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in net.state_dict().items())


# == check_loss ===================================================================================
@pytest.mark.parametrize("loss, refused", [
    (0.5, False), (0.0, False), (1e30, False),
    (float("nan"), True), (float("inf"), True), (float("-inf"), True),   # overflow diverges as NaN does
])
def test_a_loss_that_is_not_finite_stops_the_run_naming_the_step(loss, refused):
    if refused:
        with pytest.raises(FloatingPointError, match="at step 17"):
            common.check_loss(loss, 17)
    else:
        common.check_loss(loss, 17)

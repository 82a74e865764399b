"""Heads and losses against naive, loop-based reference implementations (float64, 1e-5)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest
import torch

from trainer.losses import (
    LOSSES,
    ArcFaceHead,
    ASoftmaxHead,
    CenterLoss,
    CircleLoss,
    CombinedLoss,
    ContrastiveLoss,
    CosFaceHead,
    LambdaSchedule,
    LSoftmaxHead,
    MultiSimilarityLoss,
    ProxyNCALoss,
    SoftmaxHead,
    TripletLoss,
    get_loss,
)

TOL = 1e-5
D, C = 8, 5

# label sets: mixed (one singleton class: an anchor with no positive), all the same, all different
LABEL_CASES = {
    "mixed": [0, 1, 2, 0, 1, 2, 3, 0, 1, 4, 2, 1],
    "all_same": [3] * 8,
    "all_different": [0, 1, 2, 3, 4],
    "pairs": [0, 0, 1, 1, 2, 2],
}


def _inputs(labels: Sequence[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(len(labels), D, generator=g, dtype=torch.float64)
    return emb, torch.tensor(labels, dtype=torch.long)


def _rows(t: torch.Tensor) -> list[list[float]]:
    return t.detach().tolist()  # type: ignore[no-any-return]


def _norm(v: Sequence[float]) -> float:
    return math.sqrt(sum(a * a for a in v))


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _cos(a: Sequence[float], b: Sequence[float]) -> float:
    return max(-1.0, min(1.0, _dot(a, b) / (_norm(a) * _norm(b))))


def _dist(a: Sequence[float], b: Sequence[float]) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))


def _unit(a: Sequence[float]) -> list[float]:
    n = _norm(a)
    return [x / n for x in a]


def _lse(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _softplus(z: float) -> float:
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def _ce(logits: Sequence[float], y: int) -> float:
    return _lse(logits) - logits[y]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _psi(theta: float, m: int) -> float:
    k = min(math.floor(m * theta / math.pi), m - 1)
    return (-1) ** k * math.cos(m * theta) - 2 * k


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny tensors: one intra-op thread is much faster on a shared, loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------------------------
# naive references for the heads: each returns the mean cross-entropy over the batch


def ref_softmax(head: SoftmaxHead, emb: torch.Tensor, labels: torch.Tensor) -> float:
    w, b = _rows(head.weight), head.bias.detach().tolist()  # type: ignore[union-attr]
    out = []
    for x, y in zip(_rows(emb), labels.tolist(), strict=True):
        out.append(_ce([_dot(wj, x) + bj for wj, bj in zip(w, b, strict=True)], y))
    return _mean(out)


def ref_lsoftmax(head: LSoftmaxHead, emb: torch.Tensor, labels: torch.Tensor, lam: float) -> float:
    out = []
    for x, y in zip(_rows(emb), labels.tolist(), strict=True):
        logits = []
        for j, wj in enumerate(_rows(head.weight)):
            c = _cos(wj, x)
            f = _norm(wj) * _norm(x)
            if j == y:
                logits.append(f * (lam * c + _psi(math.acos(c), head.m)) / (1 + lam))
            else:
                logits.append(f * c)
        out.append(_ce(logits, y))
    return _mean(out)


def ref_asoftmax(head: ASoftmaxHead, emb: torch.Tensor, labels: torch.Tensor, lam: float) -> float:
    out = []
    for x, y in zip(_rows(emb), labels.tolist(), strict=True):
        logits = []
        for j, wj in enumerate(_rows(head.weight)):
            c = _cos(wj, x)
            if j == y:
                logits.append(_norm(x) * (lam * c + _psi(math.acos(c), head.m)) / (1 + lam))
            else:
                logits.append(_norm(x) * c)
        out.append(_ce(logits, y))
    return _mean(out)


def ref_cosface(head: CosFaceHead, emb: torch.Tensor, labels: torch.Tensor) -> float:
    out = []
    for x, y in zip(_rows(emb), labels.tolist(), strict=True):
        cos = [_cos(wj, x) for wj in _rows(head.weight)]
        out.append(_ce([head.scale * (c - (head.m if j == y else 0.0)) for j, c in enumerate(cos)], y))
    return _mean(out)


def ref_arcface(head: ArcFaceHead, emb: torch.Tensor, labels: torch.Tensor) -> float:
    m, s = head.m, head.scale
    out = []
    for x, y in zip(_rows(emb), labels.tolist(), strict=True):
        logits = []
        for j, wj in enumerate(_rows(head.weight)):
            c = _cos(wj, x)
            if j == y:
                theta = math.acos(c)
                if head.easy_margin:
                    c = math.cos(theta + m) if c > 0 else c
                else:
                    c = math.cos(theta + m) if theta + m < math.pi else c - m * math.sin(m)
            logits.append(s * c)
        out.append(_ce(logits, y))
    return _mean(out)


# ----------------------------------------------------------------------------------------------
# naive references for the pair / proxy losses


def ref_contrastive(loss: ContrastiveLoss, emb: torch.Tensor, labels: torch.Tensor) -> float:
    xs = [_unit(x) for x in _rows(emb)] if loss.normalize else _rows(emb)
    ys = labels.tolist()
    pos, neg = [], []
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            d = _dist(xs[i], xs[j])
            if ys[i] == ys[j]:
                pos.append(max(0.0, d - loss.pos_margin))
            else:
                neg.append(max(0.0, loss.neg_margin - d))

    def reduce(v: list[float]) -> float:
        if loss.avg_nonzero:
            return _mean([a for a in v if a > 0])
        return _mean(v)

    return reduce(pos) + reduce(neg)


def ref_triplet(loss: TripletLoss, emb: torch.Tensor, labels: torch.Tensor) -> float:
    xs = [_unit(x) for x in _rows(emb)]
    ys = labels.tolist()
    n = len(xs)
    d = [[_dist(xs[i], xs[j]) for j in range(n)] for i in range(n)]
    margin = loss.margin
    out = []
    for a in range(n):
        ps = [p for p in range(n) if p != a and ys[p] == ys[a]]
        ns = [q for q in range(n) if ys[q] != ys[a]]
        if not ps or not ns:
            continue
        if loss.mining == "batch_hard":
            out.append(max(0.0, max(d[a][p] for p in ps) - min(d[a][q] for q in ns) + margin))
        elif loss.mining == "semi_hard":
            for p in ps:
                farther = [d[a][q] for q in ns if d[a][q] > d[a][p]]
                dn = min(farther) if farther else max(d[a][q] for q in ns)
                out.append(max(0.0, d[a][p] - dn + margin))
        else:
            for p in ps:
                for q in ns:
                    cost = max(0.0, d[a][p] - d[a][q] + margin)
                    if cost > 0:
                        out.append(cost)
    return _mean(out)


def ref_circle(loss: CircleLoss, emb: torch.Tensor, labels: torch.Tensor) -> float:
    xs, ys, m, g = _rows(emb), labels.tolist(), loss.m, loss.gamma
    out = []
    for i in range(len(xs)):
        sp = [_cos(xs[i], xs[j]) for j in range(len(xs)) if j != i and ys[j] == ys[i]]
        sn = [_cos(xs[i], xs[j]) for j in range(len(xs)) if ys[j] != ys[i]]
        if not sp or not sn:
            continue
        lp = [-g * max(0.0, 1 + m - s) * (s - (1 - m)) for s in sp]
        ln = [g * max(0.0, s + m) * (s - m) for s in sn]
        out.append(_softplus(_lse(lp) + _lse(ln)))
    return _mean(out)


def ref_multi_similarity(loss: MultiSimilarityLoss, emb: torch.Tensor, labels: torch.Tensor) -> float:
    """After the authors' code (MalongTech/research-ms-loss), self excluded by index."""
    xs, ys = _rows(emb), labels.tolist()
    total = 0.0
    for i in range(len(xs)):
        pos_all = [_cos(xs[i], xs[j]) for j in range(len(xs)) if j != i and ys[j] == ys[i]]
        neg_all = [_cos(xs[i], xs[j]) for j in range(len(xs)) if ys[j] != ys[i]]
        if not pos_all or not neg_all:
            continue
        neg = [s for s in neg_all if s + loss.epsilon > min(pos_all)]
        pos = [s for s in pos_all if s - loss.epsilon < max(neg_all)]
        if not neg or not pos:
            continue
        pos_loss = math.log(1 + sum(math.exp(-loss.alpha * (s - loss.base)) for s in pos)) / loss.alpha
        neg_loss = math.log(1 + sum(math.exp(loss.beta * (s - loss.base)) for s in neg)) / loss.beta
        total += pos_loss + neg_loss
    return total / len(xs)


def ref_proxy_nca(loss: ProxyNCALoss, emb: torch.Tensor, labels: torch.Tensor) -> float:
    ps = [[loss.scale * v for v in _unit(p)] for p in _rows(loss.proxies)]
    out = []
    for x, y in zip(_rows(emb), labels.tolist(), strict=True):
        xu = [loss.scale * v for v in _unit(x)]
        d = [_dist(xu, p) ** 2 for p in ps]
        out.append(d[y] + _lse([-dz for z, dz in enumerate(d) if z != y]))
    return _mean(out)


# ----------------------------------------------------------------------------------------------


def _check_value_and_grads(loss_fn: torch.nn.Module, emb: torch.Tensor, labels: torch.Tensor, ref: float) -> None:
    emb = emb.clone().requires_grad_(True)
    value = loss_fn(emb, labels)
    assert value.ndim == 0 and value.dtype == torch.float64
    assert abs(value.item() - ref) < TOL, (value.item(), ref)
    value.backward()
    assert emb.grad is not None and bool(torch.isfinite(emb.grad).all())
    for p in loss_fn.parameters():
        assert p.grad is None or bool(torch.isfinite(p.grad).all())


def _labels_for_heads() -> list[list[int]]:
    return [LABEL_CASES["mixed"], LABEL_CASES["all_same"], LABEL_CASES["all_different"]]


@pytest.mark.parametrize("labels", _labels_for_heads())
def test_softmax_cosface_arcface_match_reference(labels: list[int]) -> None:
    torch.manual_seed(1)
    emb, y = _inputs(labels, seed=2)
    softmax = SoftmaxHead(D, C).double()
    with torch.no_grad():
        softmax.bias.normal_()  # type: ignore[union-attr]
    _check_value_and_grads(softmax, emb, y, ref_softmax(softmax, emb, y))
    for s, m in [(64.0, 0.35), (30.0, 0.1)]:
        cosface = CosFaceHead(D, C, s=s, m=m).double()
        _check_value_and_grads(cosface, emb, y, ref_cosface(cosface, emb, y))
    for easy in (False, True):
        for m in (0.5, 0.2):
            arc = ArcFaceHead(D, C, s=32.0, m=m, easy_margin=easy).double()
            _check_value_and_grads(arc, emb, y, ref_arcface(arc, emb, y))


def test_arcface_guard_when_theta_plus_m_exceeds_pi() -> None:
    torch.manual_seed(3)
    head = ArcFaceHead(D, C, s=64.0, m=0.5).double()
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    # embeddings almost opposite their class weight: theta close to pi, so theta + m > pi
    w = torch.nn.functional.normalize(head.weight.detach(), dim=1)
    emb = -w[y] + 0.05 * torch.randn(len(y), D, dtype=torch.float64)
    cos_t = head.cosine(emb).gather(1, y[:, None]).squeeze(1)
    theta = torch.acos(cos_t)
    assert bool((theta + head.m > math.pi).all())
    logits = head.margin_logits(emb, y).gather(1, y[:, None]).squeeze(1)
    expected = 64.0 * (cos_t - 0.5 * math.sin(0.5))  # cos(theta) - m sin(m), never cos(theta + m)
    assert torch.allclose(logits, expected, atol=1e-9)
    assert not torch.allclose(logits, 64.0 * torch.cos(theta + 0.5), atol=1e-3)
    _check_value_and_grads(head, emb, y, ref_arcface(head, emb, y))
    # exactly opposite / exactly aligned: the sqrt guard keeps gradients finite
    for sign in (-1.0, 1.0):
        exact = (sign * head.weight.detach()[y]).clone().requires_grad_(True)
        head(exact, y).backward()
        assert exact.grad is not None and bool(torch.isfinite(exact.grad).all())


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_lsoftmax_and_asoftmax_match_reference(m: int) -> None:
    torch.manual_seed(4)
    emb, y = _inputs(LABEL_CASES["mixed"], seed=5)
    for lam_min in (0.0, 5.0):
        schedule = LambdaSchedule(base=0.0, lambda_min=lam_min)  # constant lambda = lam_min
        ls = LSoftmaxHead(D, C, m=m, schedule=schedule).double()
        assert ls.current_lambda() == lam_min
        _check_value_and_grads(ls, emb, y, ref_lsoftmax(ls, emb, y, lam_min))
        a = ASoftmaxHead(D, C, m=m, schedule=schedule).double()
        _check_value_and_grads(a, emb, y, ref_asoftmax(a, emb, y, lam_min))


def test_psi_is_the_k_piecewise_function_and_decreasing() -> None:
    from trainer.losses.angular_margin import psi

    theta = torch.linspace(0.0, math.pi, 2001, dtype=torch.float64)
    for m in (1, 2, 3, 4):
        got = psi(torch.cos(theta), m)
        ref = torch.tensor([_psi(t, m) for t in theta.tolist()], dtype=torch.float64)
        assert torch.allclose(got, ref, atol=1e-8)
        assert bool((got[1:] <= got[:-1] + 1e-9).all())  # monotonically decreasing on [0, pi]


def test_lambda_annealing_follows_the_schedule() -> None:
    head = ASoftmaxHead(D, C).double()
    emb, y = _inputs(LABEL_CASES["mixed"])
    sched = LambdaSchedule()
    assert sched.value(0) == 1000.0 and sched.value(10**6) == 5.0
    assert sched.value(100) == pytest.approx(1000.0 / 13.0)
    head.train()
    lams = []
    for _ in range(3):
        lams.append(head.current_lambda())
        value = head(emb, y)
        assert abs(value.item() - ref_asoftmax(head, emb, y, lams[-1])) < TOL
    assert lams == [sched.value(0), sched.value(1), sched.value(2)]
    head.eval()
    head(emb, y)
    assert int(head.iteration) == 3  # eval passes do not advance the schedule
    assert "iteration" in head.state_dict()


@pytest.mark.parametrize("case", sorted(LABEL_CASES))
def test_pair_losses_match_reference(case: str) -> None:
    emb, y = _inputs(LABEL_CASES[case], seed=6)
    losses: list[tuple[torch.nn.Module, Callable[..., float]]] = [
        (ContrastiveLoss(), ref_contrastive),
        (ContrastiveLoss(pos_margin=0.3, neg_margin=1.2, avg_nonzero=False), ref_contrastive),
        (TripletLoss(margin=0.2, mining="batch_hard"), ref_triplet),
        (TripletLoss(margin=0.5, mining="semi_hard"), ref_triplet),
        (TripletLoss(margin=0.3, mining="all"), ref_triplet),
        (CircleLoss(), ref_circle),
        (CircleLoss(m=0.4, gamma=80.0), ref_circle),
        (MultiSimilarityLoss(), ref_multi_similarity),
        (MultiSimilarityLoss(alpha=2.0, beta=10.0, base=0.2, epsilon=0.5), ref_multi_similarity),
    ]
    for loss, ref in losses:
        _check_value_and_grads(loss, emb, y, ref(loss, emb, y))


def test_pair_losses_are_zero_without_positives_or_negatives() -> None:
    for case in ("all_same", "all_different"):
        emb, y = _inputs(LABEL_CASES[case], seed=7)
        for loss in (
            TripletLoss(mining="batch_hard"),
            TripletLoss(mining="semi_hard"),
            CircleLoss(),
            MultiSimilarityLoss(),
        ):
            assert float(loss(emb, y)) == 0.0


def test_pair_losses_handle_duplicate_embeddings() -> None:
    emb, y = _inputs([0, 0, 1, 1, 2], seed=8)
    emb = emb.clone()
    emb[1] = emb[0]  # identical positive pair: distance exactly 0
    for loss in (
        ContrastiveLoss(),
        TripletLoss(mining="batch_hard"),
        TripletLoss(mining="semi_hard"),
        TripletLoss(mining="all"),
    ):
        _check_value_and_grads(
            loss,
            emb,
            y,
            ref_contrastive(loss, emb, y) if isinstance(loss, ContrastiveLoss) else ref_triplet(loss, emb, y),
        )


@pytest.mark.parametrize("case", ["mixed", "all_same", "all_different"])
def test_proxy_nca_matches_reference(case: str) -> None:
    torch.manual_seed(9)
    emb, y = _inputs(LABEL_CASES[case], seed=10)
    for scale in (1.0, 3.0):
        loss = ProxyNCALoss(D, C, scale=scale).double()
        _check_value_and_grads(loss, emb, y, ref_proxy_nca(loss, emb, y))
        assert loss.proxies.grad is not None
    assert loss.logits(emb).shape == (len(y), C)


def test_center_loss_value_and_paper_update() -> None:
    emb, y = _inputs(LABEL_CASES["mixed"], seed=11)
    loss = CenterLoss(D, C, weight=0.01, alpha=0.5).double()
    with torch.no_grad():
        loss.centers.normal_()
    centers = _rows(loss.centers)
    xs = _rows(emb)
    ref = 0.01 * 0.5 * _mean([_dist(x, centers[c]) ** 2 for x, c in zip(xs, y.tolist(), strict=True)])
    loss.train()
    _check_value_and_grads(loss, emb, y, ref)
    # the paper's rule, class by class
    for j in range(C):
        members = [x for x, c in zip(xs, y.tolist(), strict=True) if c == j]
        delta = [sum(centers[j][k] - x[k] for x in members) / (1 + len(members)) for k in range(D)]
        expected = [centers[j][k] - 0.5 * delta[k] for k in range(D)]
        assert np.allclose(loss.centers[j].tolist(), expected, atol=1e-12)
    assert not list(loss.parameters())  # centres are not for the main optimiser
    before = loss.centers.clone()
    loss.eval()
    loss(emb, y)
    assert torch.equal(loss.centers, before)  # eval passes leave the centres alone


def test_center_loss_centres_move_to_class_means() -> None:
    emb, y = _inputs(LABEL_CASES["mixed"], seed=12)
    loss = CenterLoss(D, C, alpha=0.5).double().train()
    means = torch.stack([emb[y == j].mean(0) for j in range(C)])
    gaps = []
    for _ in range(40):
        gaps.append(float((loss.centers - means).norm(dim=1).max()))
        loss(emb, y)
    assert all(b < a for a, b in itertools.pairwise(gaps))
    assert gaps[-1] < 1e-3 * gaps[0]
    fresh = CenterLoss(D, C, normalize=True).double()
    fresh.init_from_embeddings(emb, y)
    unit = torch.nn.functional.normalize(emb, dim=1)
    assert torch.allclose(fresh.centers[0], unit[y == 0].mean(0))


def test_registry_and_combined_loss() -> None:
    assert {
        "softmax",
        "lsoftmax",
        "asoftmax",
        "sphereface",
        "cosface",
        "amsoftmax",
        "arcface",
        "center",
        "contrastive",
        "triplet",
        "circle",
        "multi_similarity",
        "proxy_nca",
    } <= set(LOSSES)
    assert isinstance(get_loss("sphereface", embed_dim=D, num_classes=C), ASoftmaxHead)
    assert isinstance(get_loss("AM-Softmax".replace("-", ""), embed_dim=D, num_classes=C), CosFaceHead)
    arc = get_loss("arcface", embed_dim=D, num_classes=C, s=30.0, m=0.3)
    assert isinstance(arc, ArcFaceHead) and arc.scale == 30.0 and arc.m == 0.3
    assert isinstance(get_loss("triplet", mining="semi_hard"), TripletLoss)
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("nope")
    with pytest.raises(ValueError, match="num_classes"):
        get_loss("arcface")
    with pytest.raises(ValueError, match="component"):
        get_loss("center+arcface", embed_dim=D, num_classes=C, m=0.3)

    torch.manual_seed(13)
    combo = get_loss(
        "center+arcface",
        embed_dim=D,
        num_classes=C,
        center={"weight": 0.1},
        arcface={"s": 16.0},
        weights={"center": 2.0},
    ).double()
    assert isinstance(combo, CombinedLoss)
    center, head = combo.components["center"], combo.components["arcface"]
    assert isinstance(center, CenterLoss) and isinstance(head, ArcFaceHead) and combo.head is head
    emb, y = _inputs(LABEL_CASES["mixed"], seed=14)
    with torch.no_grad():
        center.centers.normal_()
    combo.eval()
    expected = 2.0 * float(center(emb, y)) + ref_arcface(head, emb, y)
    _check_value_and_grads(combo, emb, y, expected)
    assert combo.logits(emb).shape == (len(y), C)
    assert set(combo.terms(emb, y)) == {"center", "arcface"}
    assert len(list(combo.parameters())) == 1  # only the ArcFace weight; centres update themselves


def test_heads_reject_bad_labels_and_init_from_embeddings() -> None:
    head = ArcFaceHead(D, C).double()
    emb, y = _inputs(LABEL_CASES["mixed"])
    with pytest.raises(ValueError):
        head(emb, torch.full_like(y, C))
    with pytest.raises(ValueError):
        head(emb[:, :3], y)
    with pytest.raises(ValueError):
        head(emb, y.double())
    head.init_from_embeddings(emb, y)
    acc = float((head.logits(emb).argmax(1) == y).double().mean())
    assert acc > 0.6  # class weights now point at the class means (random 8-D points, 5 classes)


@pytest.mark.slow
def test_center_plus_arcface_separates_synthetic_clusters() -> None:
    """300 steps of center+arcface on clusters that share one direction in input space.

    The six 2-D input clusters lie along one ray (cosine cannot tell them apart: chance level);
    a small MLP trained with center+arcface must map them to well-separated directions.
    """
    torch.manual_seed(0)
    n_cls, per, dim = 6, 40, 8
    direction = torch.tensor([1.0, 0.5]) / math.sqrt(1.25)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(n_cls).repeat_interleave(n)
        radius = 2.0 + 2.0 * labels.float()
        x = radius[:, None] * direction + 0.35 * torch.randn(len(labels), 2)
        return x, labels

    x_train, y_train = sample(per)
    x_test, y_test = sample(30)

    def centre_accuracy(f_train: torch.Tensor, f_test: torch.Tensor) -> float:
        centres = torch.nn.functional.normalize(
            torch.stack([torch.nn.functional.normalize(f_train[y_train == c], dim=1).mean(0) for c in range(n_cls)]),
            dim=1,
        )
        pred = (torch.nn.functional.normalize(f_test, dim=1) @ centres.t()).argmax(1)
        return float((pred == y_test).float().mean())

    assert centre_accuracy(x_train, x_test) < 0.4  # raw inputs: angles carry almost no class information

    net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.ReLU(), torch.nn.Linear(64, dim))
    loss = get_loss(
        "center+arcface", embed_dim=dim, num_classes=n_cls, center={"weight": 0.01}, arcface={"s": 16.0, "m": 0.3}
    )
    opt = torch.optim.Adam([*net.parameters(), *loss.parameters()], lr=3e-3)
    loss.train()
    history = []
    for _ in range(300):
        opt.zero_grad()
        value = loss(net(x_train), y_train)
        value.backward()
        opt.step()
        history.append(value.item())
    assert np.mean(history[-20:]) < 0.5 * np.mean(history[:20])

    with torch.no_grad():
        f_train, f_test = net(x_train), net(x_test)
        head_acc = float((loss.logits(f_test).argmax(1) == y_test).float().mean())
    assert centre_accuracy(f_train, f_test) > 0.9
    assert head_acc > 0.9
    # classes are angularly separated: each test point is closer to its own centre than to others
    fn = torch.nn.functional.normalize(f_test, dim=1)
    centres = torch.nn.functional.normalize(torch.stack([fn[y_test == c].mean(0) for c in range(n_cls)]), dim=1)
    off_diagonal = ~torch.eye(n_cls, dtype=torch.bool)
    inter = (centres @ centres.t())[off_diagonal]
    intra = (fn * centres[y_test]).sum(1)
    print(f"intra mean {float(intra.mean()):.3f}, inter mean {float(inter.mean()):.3f} max {float(inter.max()):.3f}")
    assert float(intra.mean()) > 0.9  # compact classes
    assert float(inter.mean()) < 0.5  # spread-out class directions

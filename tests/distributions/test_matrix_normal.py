"""MatrixNormal against dense Kronecker references, Monte Carlo moments and gradients.

Monte Carlo checks allow five standard errors per compared entry: a two-sided
5-sigma miss has probability 5.7e-7, so even the largest check here (a few hundred
entries) fails by chance less than once in ten thousand runs, while a wrong
covariance factor (an error of order one standard deviation, i.e. about 100
standard errors at these sample sizes) cannot pass.
"""

import itertools
import math

import pytest
import torch

from pyro_local.distributions import DenseFactor, DiagonalFactor, LowRankFactor, MatrixNormal

from .matrix_normal_reference import (
    KINDS,
    dense_covariance,
    make_factor,
    random_matrix_normal,
    random_params,
    vec,
)

PAIRS = list(itertools.product(KINDS, KINDS))
PAIR_IDS = [f"{r}-{c}" for r, c in PAIRS]
NUM_SE = 5.0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("row_kind,column_kind", PAIRS, ids=PAIR_IDS)
def test_log_prob_and_entropy_match_dense(row_kind, column_kind, dtype):
    d, ref = random_matrix_normal(
        row_kind, column_kind, 3, 4, loc_batch=(2,), row_batch=(3, 1), dtype=dtype
    )
    assert d.batch_shape == (3, 2) and d.event_shape == (3, 4)
    x = d.sample((5,))
    assert x.shape == (5, 3, 2, 3, 4) and x.dtype == dtype
    actual = d.log_prob(x)
    assert actual.shape == (5, 3, 2) and actual.dtype == dtype
    # float32: over 180 random draws the error stayed below 4e-7 * (1 + |log p|),
    # so 1e-5 leaves a 25-fold margin; float64 errors are around 1e-14.
    tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-5}
    torch.testing.assert_close(actual.double(), ref.log_prob(vec(x).double()), **tol)
    torch.testing.assert_close(d.entropy().double(), ref.entropy(), **tol)


@pytest.mark.parametrize("row_kind,column_kind", PAIRS, ids=PAIR_IDS)
def test_moments_and_covariances(row_kind, column_kind):
    n, p = 3, 2
    loc = torch.randn(2, n, p, dtype=torch.float64)
    row_params = random_params(row_kind, n)
    column_params = random_params(column_kind, p, (2,))
    d = MatrixNormal.from_factors(
        loc, make_factor(row_kind, row_params), make_factor(column_kind, column_params)
    )
    u = dense_covariance(row_kind, row_params).expand(2, n, n)
    v = dense_covariance(column_kind, column_params)
    u_diag, v_diag = u.diagonal(dim1=-2, dim2=-1), v.diagonal(dim1=-2, dim2=-1)
    assert d.mean is d.loc
    torch.testing.assert_close(d.variance, u_diag[..., :, None] * v_diag[..., None, :])
    torch.testing.assert_close(d.row_covariance, u)
    torch.testing.assert_close(d.column_covariance, v)
    torch.testing.assert_close(d.row_scale, u_diag.sqrt())
    torch.testing.assert_close(d.column_scale, v_diag.sqrt())
    rank = {"dense": 0, "diagonal": 0, "low_rank": 2}
    assert d.noise_shape == (n + rank[row_kind], p + rank[column_kind])


def test_constructors_agree_and_expose_parameters():
    n, p = 3, 2
    loc = torch.randn(n, p, dtype=torch.float64)
    (l_r,), (l_c,) = random_params("dense", n), random_params("dense", p, (4,))
    dense = MatrixNormal(loc, l_r, l_c)
    mixed = MatrixNormal.from_factors(loc, DenseFactor(l_r), DenseFactor(l_c))
    x = dense.sample((3,))
    torch.testing.assert_close(dense.log_prob(x), mixed.log_prob(x))
    assert dense.scale_tril_row.shape == (4, n, n)
    torch.testing.assert_close(dense.scale_tril_column, l_c)
    shapes = MatrixNormal.infer_shapes((5, n, p), (n, n), (4, 1, p, p))
    assert shapes == ((4, 5), (n, p))
    with pytest.raises(AttributeError, match="row_cov_factor"):
        _ = dense.row_cov_factor

    s_r, s_c = random_params("diagonal", n)[0], random_params("diagonal", p)[0]
    diag = MatrixNormal.diagonal(loc, s_r, s_c)
    as_dense = MatrixNormal(loc, torch.diag(s_r), torch.diag(s_c))
    torch.testing.assert_close(diag.log_prob(x), as_dense.log_prob(x))
    assert torch.equal(diag.row_scale, s_r)
    with pytest.raises(AttributeError, match="scale_tril_row"):
        _ = diag.scale_tril_row

    zeros_r = torch.zeros(n, 1, dtype=torch.float64)
    zeros_c = torch.zeros(p, 2, dtype=torch.float64)
    low_rank = MatrixNormal.low_rank(loc, zeros_r, s_r**2, zeros_c, s_c**2)
    torch.testing.assert_close(low_rank.log_prob(x), diag.log_prob(x))
    torch.testing.assert_close(low_rank.row_cov_diag, s_r**2)
    assert low_rank.column_cov_factor.shape == (p, 2)


@pytest.mark.parametrize(
    "row_kind,column_kind", [("dense", "dense"), ("diagonal", "low_rank"), ("low_rank", "dense")]
)
def test_sample_mean_and_covariance(row_kind, column_kind):
    d, ref = random_matrix_normal(row_kind, column_kind, 2, 3)
    num_samples = 20000
    x = vec(d.rsample((num_samples,)))
    mean, cov = ref.mean, ref.covariance_matrix
    var = cov.diagonal()
    se_mean = (var / num_samples).sqrt()
    assert ((x.mean(0) - mean).abs() <= NUM_SE * se_mean).all()
    # Gaussian sample covariance: Var(S_ab) = (S_aa S_bb + S_ab^2) / N.
    se_cov = ((var[:, None] * var[None, :] + cov**2) / num_samples).sqrt()
    assert ((x.T.cov() - cov).abs() <= NUM_SE * se_cov).all()


def _closed_form_objective(kind_r, params_r, kind_c, params_c, loc, weights):
    """``E[sum_ij C_ij W_ij^2] = sum_ij C_ij (M_ij^2 + U_ii V_jj)`` from raw parameters."""
    u_diag = dense_covariance(kind_r, params_r).diagonal(dim1=-2, dim2=-1)
    v_diag = dense_covariance(kind_c, params_c).diagonal(dim1=-2, dim2=-1)
    return (weights * (loc**2 + u_diag[:, None] * v_diag[None, :])).sum()


@pytest.mark.parametrize("row_kind,column_kind", [("dense", "diagonal"), ("low_rank", "dense")])
def test_rsample_gradient_is_unbiased(row_kind, column_kind):
    # Pathwise gradient of E[f(W)] for a smooth f, against the gradient of its closed
    # form; the standard error comes from the spread over independent groups.
    n, p, groups, per_group = 3, 2, 40, 500
    loc = torch.randn(n, p, dtype=torch.float64, requires_grad=True)
    params_r = [t.requires_grad_() for t in random_params(row_kind, n)]
    params_c = [t.requires_grad_() for t in random_params(column_kind, p)]
    leaves = [loc, *params_r, *params_c]
    weights = torch.rand(n, p, dtype=torch.float64)
    exact = torch.autograd.grad(
        _closed_form_objective(row_kind, params_r, column_kind, params_c, loc, weights), leaves
    )
    estimates = []
    for _ in range(groups):
        d = MatrixNormal.from_factors(
            loc, make_factor(row_kind, params_r), make_factor(column_kind, params_c)
        )
        w = d.rsample((per_group,))
        estimates.append(torch.autograd.grad((weights * w**2).sum(-1).sum(-1).mean(), leaves))
    for i, g_exact in enumerate(exact):
        g = torch.stack([e[i] for e in estimates])
        se = g.std(0) / math.sqrt(groups)
        # Entries with zero exact gradient (upper triangle of L) have zero spread too.
        assert ((g.mean(0) - g_exact).abs() <= NUM_SE * se + 1e-12).all(), i


@pytest.mark.parametrize("kind", KINDS)
def test_row_quad_form_and_column_scale_matmul_match_dense(kind):
    n, p = 4, 3
    loc = torch.randn(2, n, p, dtype=torch.float64)
    params_r, params_c = random_params(kind, n), random_params(kind, p, (2,))
    d = MatrixNormal.from_factors(loc, make_factor(kind, params_r), make_factor(kind, params_c))
    u, v = dense_covariance(kind, params_r), dense_covariance(kind, params_c)
    x = torch.randn(5, 1, 7, n, dtype=torch.float64)
    q = d.row_quad_form(x)
    assert q.shape == (5, 2, 7)
    torch.testing.assert_close(q, torch.einsum("...i,ij,...j->...", x, u, x).expand(5, 2, 7))
    # eps S_c^T for eps = I gives S_c^T, and S_c S_c^T must be V.
    r = d.noise_shape[-1]
    root_t = d.column_scale_matmul(torch.eye(r, dtype=torch.float64))
    assert root_t.shape == (2, r, p)
    torch.testing.assert_close(root_t.mT @ root_t, v)
    eps = torch.randn(6, 2, 7, r, dtype=torch.float64)
    expected = {
        "dense": lambda: eps @ params_c[0].mT,
        "diagonal": lambda: eps * params_c[0][:, None, :],
        "low_rank": lambda: (
            eps[..., :p] * params_c[1][:, None, :].sqrt() + eps[..., p:] @ params_c[0].mT
        ),
    }[kind]()
    torch.testing.assert_close(d.column_scale_matmul(eps), expected)


@pytest.mark.parametrize("row_kind,column_kind", [("diagonal", "diagonal"), ("dense", "low_rank")])
def test_local_reparameterization_law(row_kind, column_kind):
    # b = x W row by row is N(x M, (x U x^T) V); sample it both ways and check each
    # against that law.
    n, p, rows, num_samples = 3, 2, 4, 20000
    d, _ = random_matrix_normal(row_kind, column_kind, n, p)
    x = torch.randn(rows, n, dtype=torch.float64)
    law_mean = x @ d.loc
    law_cov = d.row_quad_form(x)[:, None, None] * d.column_covariance
    eps = torch.randn(num_samples, rows, d.noise_shape[-1], dtype=torch.float64)
    b_local = x @ d.loc + d.row_quad_form(x).sqrt()[:, None] * d.column_scale_matmul(eps)
    b_weights = x @ d.rsample((num_samples,))
    law_var = law_cov.diagonal(dim1=-2, dim2=-1)
    se_mean = (law_var / num_samples).sqrt()
    se_cov = ((law_var[..., :, None] * law_var[..., None, :] + law_cov**2) / num_samples).sqrt()
    for b in (b_local, b_weights):
        assert ((b.mean(0) - law_mean).abs() <= NUM_SE * se_mean).all()
        centred = b - b.mean(0)
        cov = torch.einsum("sri,srj->rij", centred, centred) / (num_samples - 1)
        assert ((cov - law_cov).abs() <= NUM_SE * se_cov).all()


def test_expand_and_sample_shapes():
    d, _ = random_matrix_normal("low_rank", "dense", 3, 2, loc_batch=(2,))
    e = d.expand((4, 2))
    assert type(e) is MatrixNormal and e.batch_shape == (4, 2)
    assert e.row_factor is d.row_factor
    x = d.sample()
    torch.testing.assert_close(e.log_prob(x), d.log_prob(x).expand(4, 2))
    assert e.rsample((5,)).shape == (5, 4, 2, 3, 2)
    assert e.row_cov_factor.shape == (4, 2, 3, 2)
    assert "LowRankFactor" in repr(e)


def _tril(n, value=None):
    tril = torch.eye(n, dtype=torch.float64)
    if value is not None:
        tril[0, -1] = value
    return tril


_M = torch.zeros(3, 2, dtype=torch.float64)
_ONE3, _ONE2 = torch.ones(3, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
_W3, _W2 = torch.ones(3, 1, dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64)

INVALID = [
    (lambda: MatrixNormal(_M, _tril(3, 0.5), _tril(2)), ValueError, "scale_tril_row.*lower"),
    (lambda: MatrixNormal(_M, _tril(3), _tril(2, 0.5)), ValueError, "scale_tril_column.*lower"),
    (lambda: MatrixNormal(_M, -_tril(3), _tril(2)), ValueError, "scale_tril_row.*positive"),
    (lambda: MatrixNormal(_M, _tril(3), _tril(2)[:1]), ValueError, "scale_tril_column.*square"),
    (lambda: MatrixNormal(_M, _tril(2), _tril(2)), ValueError, "scale_tril_row.*dimension 3"),
    (lambda: MatrixNormal(_M, _tril(3), _tril(3)), ValueError, "scale_tril_column.*dimension 2"),
    (lambda: MatrixNormal(_M[0], _tril(3), _tril(2)), ValueError, "loc: expected shape"),
    (lambda: MatrixNormal(_M.tolist(), _tril(3), _tril(2)), TypeError, "loc: expected a torch"),
    (lambda: MatrixNormal(_M, _tril(3).float(), _tril(2)), TypeError, "scale_tril_row.*dtype"),
    (
        lambda: MatrixNormal(_M.expand(2, 3, 2), _tril(3).expand(3, 3, 3), _tril(2)),
        ValueError,
        "broadcastable batch shapes",
    ),
    (lambda: MatrixNormal.diagonal(_M, 0 * _ONE3, _ONE2), ValueError, "row_scale.*positive"),
    (lambda: MatrixNormal.diagonal(_M, _ONE3, _ONE3), ValueError, "column_scale.*dimension 2"),
    (
        lambda: MatrixNormal.low_rank(_M, _W3, -_ONE3, _W2, _ONE2),
        ValueError,
        "row_cov_diag.*positive",
    ),
    (
        lambda: MatrixNormal.low_rank(_M, _W3, _ONE3, _W2, _ONE3),
        ValueError,
        "column_cov_diag.*match column_cov_factor",
    ),
    (
        lambda: MatrixNormal.low_rank(_M, _W3 * math.nan, _ONE3, _W2, _ONE2),
        ValueError,
        "row_cov_factor.*finite",
    ),
    (lambda: MatrixNormal.from_factors(_M, _tril(3), DiagonalFactor(_ONE2)), TypeError, "row_f"),
    (
        lambda: MatrixNormal.from_factors(_M, LowRankFactor(_W2, _ONE2), DiagonalFactor(_ONE2)),
        ValueError,
        "row_cov_factor.*dimension 3",
    ),
]


@pytest.mark.parametrize("make,error,message", INVALID, ids=[m for _, _, m in INVALID])
def test_invalid_arguments_raise(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_validation_can_be_turned_off_and_checks_samples():
    bad = _tril(3, 0.5)
    MatrixNormal(_M, bad, _tril(2), validate_args=False)  # no value checks
    d = MatrixNormal.diagonal(_M, _ONE3, _ONE2, validate_args=True)
    with pytest.raises(ValueError):
        d.log_prob(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="x: expected"):
        d.row_quad_form(torch.zeros(4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="eps: expected"):
        d.column_scale_matmul(torch.zeros(4, 3, dtype=torch.float64))

#!/bin/sh
# The Fashion-MNIST comparison of docs/results.md section 1: LeNet-5 (20 epochs) and
# the MLP 784-400-400-10 (15 epochs), each with the matrix-normal, mean-field,
# AutoNormal and deterministic guides and the three plain-PyTorch references
# (deterministic, mean-field, matrix normal) at the same budget; then LeNet-5
# trained locally (per-layer ELBOs) with the matrix-normal and mean-field guides.
# One after the other; rows are independent, so on a machine with
# two cores two lines of this script may run side by side.
# Usage: sh examples/fashion_mnist_bayes_suite.sh OUT_DIR [extra args, e.g. --threads 1]
# About 3 hours of one core; on a shared machine run it niced, e.g.
#   nice -n 5 sh examples/fashion_mnist_bayes_suite.sh out/ --threads 1
# PYTHON=/path/to/python picks the interpreter (default: python).
set -e
out=${1:?usage: fashion_mnist_bayes_suite.sh OUT_DIR [extra args]}
shift
mkdir -p "$out"
py=${PYTHON:-python}
row() {  # NAME SCRIPT ARGS...
    name=$1 script=$2
    shift 2
    echo "== $name"
    $py "$script" "$@" --out "$out/$name.json" 2>&1 | tr '\r' '\n' | grep -v 'it/s\|s/it'
}
for arch_epochs in "lenet5 20" "mlp 15"; do
    set -- $arch_epochs "$@"
    arch=$1 epochs=$2
    shift 2
    for guide in matrix_normal mean_field auto_normal deterministic; do
        row "${arch}_${guide}" examples/fashion_mnist_bayes.py --arch "$arch" --guide "$guide" \
            --epochs "$epochs" --eval-every 5 "$@"
    done
    for method in deterministic bbb mn; do
        row "plain_${arch}_${method}" benchmarks/plain_bayes_baseline.py --arch "$arch" \
            --method "$method" --epochs "$epochs" --eval-every 5 "$@"
    done
done
for guide in matrix_normal mean_field; do
    row "local_lenet5_${guide}" examples/fashion_mnist_bayes.py --arch lenet5 --guide "$guide" \
        --training local --epochs 20 --eval-every 5 "$@"
done

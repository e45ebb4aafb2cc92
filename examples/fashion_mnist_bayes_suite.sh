#!/bin/sh
# The Fashion-MNIST comparison of docs/results.md: LeNet-5 and MLP, each with
# the matrix-normal, mean-field, AutoNormal and deterministic guides, one after the
# other. Usage: sh examples/fashion_mnist_bayes_suite.sh OUT_DIR [extra args...]
# Long (about 2 hours on 2 CPU cores); on a shared machine run it niced, e.g.
#   nice -n 5 sh examples/fashion_mnist_bayes_suite.sh out/
# PYTHON=/path/to/python picks the interpreter (default: python).
set -e
out=${1:?usage: fashion_mnist_bayes_suite.sh OUT_DIR [extra args]}
shift
mkdir -p "$out"
py=${PYTHON:-python}
for arch_epochs in "lenet5 20" "mlp 15"; do
    set -- $arch_epochs "$@"
    arch=$1 epochs=$2
    shift 2
    for guide in matrix_normal mean_field auto_normal deterministic; do
        echo "== $arch $guide ($epochs epochs)"
        $py examples/fashion_mnist_bayes.py --arch "$arch" --guide "$guide" \
            --epochs "$epochs" --eval-every 5 --out "$out/${arch}_${guide}.json" "$@" \
            2>&1 | tr '\r' '\n' | grep -v 'it/s\|s/it' 
    done
done

"""The assignment's entry point: `python run.py experiment=train_mnist_gan.yaml`."""

from ganlab.train import main

if __name__ == "__main__":
    main()

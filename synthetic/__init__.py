"""Synthetic pictures of digits for tests, benches and ``work/make_examples.py`` — not the product.

``pen`` draws digits from pen paths we wrote ourselves (nothing from MNIST); ``redraw`` turns MNIST
digits into the kind of photo a person sends. Both make inputs with labels we trust, so tests and
``bench/`` can check ``infer.py``'s preprocessing end to end.

The ``handwriting`` package never imports this one (``tests/test_synthetic.py`` checks that): a user
installing the product gets no test-data makers, and the makers can change without touching it.
"""

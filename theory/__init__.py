"""theory: the mathematical source of truth of rope-blocks.

Sympy derivations and numpy/scipy references, one function per statement (T1..T11), each returning a
`theory.certificate.Certificate`. Nothing here imports torch, and this file imports nothing, so that
`import theory` stays instant; import the module that holds a statement:

    certificate   the Certificate record and the @theorem decorator
    lie           so(k): plane generators, Givens rotations, tori, commutators, truncated exponentials
    trig          exact normal forms of trigonometric polynomials (the zero test of the proofs)
    numeric       numpy/scipy references: expm rotations, the relative error, commutation defect
    relative      T1 sufficiency, T2 necessity
    structure     T3 commuting subspaces of so(k), T4 normal form
    absorption    T5 the basis change folds into W_q, W_k
    seed_blocks   T6 the seed's Givens blocks, T7 its weighted blocks
    closed_forms  T8 Rodrigues and the two-plane formula
    liere         T9 LieRE's commutator error
    counting      T10 planes, parameters and cost per design
    separability  T11 an axial head's attention over offsets is rank one; the mutual-information floor
    prove         the `rope-blocks prove` command
"""

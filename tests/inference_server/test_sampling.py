from inference_server.runtime.sampling import SamplingParams, make_processors, make_sampler
from shared_schemas.openai import ChatCompletionRequest


def request(**kw: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"messages": [{"role": "user", "content": "x"}], **kw}
    )


def test_defaults_follow_openai() -> None:
    params = SamplingParams.from_request(request())
    assert params.temperature == 1.0 and params.top_p == 1.0 and params.top_logprobs is None


def test_greedy_shares_the_batch_sampler() -> None:
    params = SamplingParams.from_request(request(temperature=0))
    assert params.greedy and make_sampler(params) is None


def test_seeded_sampler_is_reproducible() -> None:
    import mlx.core as mx

    logits = mx.log(mx.array([[0.1, 0.2, 0.3, 0.4]]))
    params = SamplingParams.from_request(request(temperature=1.0, seed=7))
    first = make_sampler(params)
    second = make_sampler(params)
    assert first is not None and second is not None
    a = [first(logits).item() for _ in range(20)]
    b = [second(logits).item() for _ in range(20)]
    assert a == b


def test_logprobs_and_penalties() -> None:
    params = SamplingParams.from_request(request(logprobs=True, top_logprobs=3), logprobs=True)
    assert params.top_logprobs == 3
    assert make_processors(SamplingParams()) == []
    assert len(make_processors(SamplingParams(presence_penalty=0.5, frequency_penalty=0.5))) == 2

using System.Text.Json.Nodes;
using Luffy.Objectives.Batching;
using Luffy.Objectives.Tokens;
using Luffy.Trainer.HuggingFace;
using Luffy.Trainer.Tests.HuggingFace;
using Luffy.Trainer.Training;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests;

[Collection("torch")]
public class PolicyForwardTests
{
    [Fact]
    public void A_large_vocabulary_takes_the_chunked_hidden_state_path_with_the_same_values_and_gradients()
    {
        JsonObject json = TinyCheckpoints.Config("qwen2", tied: true, vocabulary: PolicyForward.ChunkedVocabulary + 100);
        manual_seed(9);
        using var model = new DecoderLanguageModel(TransformerConfig.FromJson(json, "config.json"));
        using (no_grad())
        {
            model.OutputWeight.mul_(0.2); // logits of a realistic scale (std ≈ 1), not the peaked ones of N(0, 1) embeddings
        }
        var builder = new MixedBatchBuilder(new BatchBuilderOptions { MaxPromptLength = 8, MaxResponseLength = 6, PadTokenId = 0, EosTokenIds = [258] });
        using TrainingBatch batch = builder.Build(
        [
            new PromptInput(1, [256, 40, 41], [SampleInput.OnPolicy([32800, 7, 258], reward: 1), SampleInput.OnPolicy([5, 6, 7, 8, 9], reward: 0)]),
            new PromptInput(2, [256, 42], [SampleInput.OnPolicy([32700], reward: 1), SampleInput.OnPolicy([1, 2], reward: 0)]),
        ]);

        using TokenStatisticsResult chunked = PolicyForward.ResponseStatistics(model, batch, chunkSize: 3);
        (chunked.LogProbs.sum() + chunked.Entropy.sum()).backward();
        Tensor[] chunkedGradients = model.parameters().Select(p => p.grad!.clone()).ToArray();
        model.zero_grad();

        Tensor logits = model.Forward(batch.InputIds, batch.PositionIds, batch.AttentionMask).narrow(1, batch.PromptLength - 1, batch.ResponseLength);
        using TokenStatisticsResult plain = TokenStatistics.Compute(logits, batch.ResponseIds());
        (plain.LogProbs.sum() + plain.Entropy.sum()).backward();

        // Both paths sum the same float32 terms in different orders (the logsumexp over V = 32,868 entries, the weight
        // gradient over positions and H): the rounding grows like sqrt(V)·2^-24·(the terms' scale) ≈ 1e-5 of the tensor's
        // largest entry, on any CPU, so every tensor is compared at 1e-4 of its own scale (AVX2 and AVX-512 differ at 3e-6).
        AssertWithinScale(plain.LogProbs, chunked.LogProbs, "log-probs");
        AssertWithinScale(plain.Entropy, chunked.Entropy, "entropy");
        Tensor[] plainGradients = model.parameters().Select(p => p.grad!).ToArray();
        for (int i = 0; i < plainGradients.Length; i++)
        {
            AssertWithinScale(plainGradients[i], chunkedGradients[i], $"gradient of parameter {i}");
        }
    }

    private static void AssertWithinScale(Tensor expected, Tensor actual, string what)
    {
        double scale = expected.abs().max().item<float>();
        double difference = (expected - actual).abs().max().item<float>();
        Assert.True(difference <= 1e-4 * Math.Max(scale, 1e-6), $"{what}: largest difference {difference:E2} against a scale of {scale:E2}");
    }
}

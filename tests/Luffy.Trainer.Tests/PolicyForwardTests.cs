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

        Assert.True(allclose(plain.LogProbs, chunked.LogProbs, rtol: 1e-5, atol: 1e-5));
        Assert.True(allclose(plain.Entropy, chunked.Entropy, rtol: 1e-5, atol: 1e-5));
        Tensor[] plainGradients = model.parameters().Select(p => p.grad!).ToArray();
        for (int i = 0; i < plainGradients.Length; i++)
        {
            Assert.True(allclose(plainGradients[i], chunkedGradients[i], rtol: 1e-4, atol: 1e-5), $"parameter {i}");
        }
    }
}

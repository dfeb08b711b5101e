using static TorchSharp.torch;

namespace Luffy.Objectives.Tokens;

/// <summary>
/// Custom autograd function: log-probs and entropies from logits processed <c>chunk</c> rows at a time, in the
/// forward pass and again in the backward pass, so the extra memory beyond the logits and their gradient is
/// O(chunk·V) instead of O(B·T·V). Backward: ∂logp/∂z = onehot − s, ∂H/∂z = −s ⊙ (z − E_s[z]), each divided by τ.
/// </summary>
internal sealed class ChunkedTokenStatisticsFunction : autograd.MultiTensorFunction<ChunkedTokenStatisticsFunction>
{
    public override string Name => "LuffyChunkedTokenStatistics";

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var logits = (Tensor)vars[0];
        var tokenIds = (Tensor)vars[1];
        long chunk = (long)vars[2];
        double temperature = (double)vars[3];
        long vocabulary = logits.shape[2];
        Tensor flat = logits.reshape(-1, vocabulary);
        Tensor ids = tokenIds.reshape(-1);
        long rows = flat.shape[0];
        Tensor logProbs = empty(rows, dtype: logits.dtype, device: logits.device);
        Tensor entropy = empty(rows, dtype: logits.dtype, device: logits.device);
        for (long start = 0; start < rows; start += chunk)
        {
            long length = Math.Min(chunk, rows - start);
            using var scope = NewDisposeScope();
            Tensor z = flat.narrow(0, start, length) / temperature;
            Tensor logSumExp = z.logsumexp(1, keepdim: true);
            Tensor probabilities = (z - logSumExp).exp();
            logProbs.narrow(0, start, length).copy_(z.gather(1, ids.narrow(0, start, length).unsqueeze(1)).squeeze(1) - logSumExp.squeeze(1));
            entropy.narrow(0, start, length).copy_(logSumExp.squeeze(1) - (probabilities * z).sum(1));
        }
        // Unused outputs arrive as undefined gradients (handled in backward). Materializing them would make
        // TorchSharp call zeros_like on the cached forward outputs, which the caller's dispose scope may have freed.
        ctx.set_materialize_grads(false);
        ctx.save_for_backward([logits, tokenIds]);
        ctx.save_data("chunk", chunk);
        ctx.save_data("temperature", temperature);
        return [logProbs.reshape(tokenIds.shape), entropy.reshape(tokenIds.shape)];
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> grad_outputs)
    {
        List<Tensor> saved = ctx.get_saved_variables();
        Tensor logits = saved[0];
        Tensor tokenIds = saved[1];
        long chunk = (long)ctx.get_data("chunk");
        double temperature = (double)ctx.get_data("temperature");
        long vocabulary = logits.shape[2];
        Tensor flat = logits.reshape(-1, vocabulary);
        Tensor ids = tokenIds.reshape(-1);
        long rows = flat.shape[0];
        Tensor gradLogProbs = Materialize(grad_outputs[0], tokenIds, logits).reshape(-1);
        Tensor gradEntropy = Materialize(grad_outputs[1], tokenIds, logits).reshape(-1);
        Tensor grad = empty_like(flat);
        for (long start = 0; start < rows; start += chunk)
        {
            long length = Math.Min(chunk, rows - start);
            using var scope = NewDisposeScope();
            Tensor z = flat.narrow(0, start, length) / temperature;
            Tensor probabilities = (z - z.logsumexp(1, keepdim: true)).exp();
            Tensor expectedLogit = (probabilities * z).sum(1, keepdim: true);
            Tensor gLogProbs = gradLogProbs.narrow(0, start, length).unsqueeze(1);
            Tensor gEntropy = gradEntropy.narrow(0, start, length).unsqueeze(1);
            Tensor g = -probabilities * (gLogProbs + gEntropy * (z - expectedLogit));
            g = g.scatter_add(1, ids.narrow(0, start, length).unsqueeze(1), gLogProbs);
            grad.narrow(0, start, length).copy_(temperature == 1.0 ? g : g / temperature);
        }
        return [grad.reshape(logits.shape), null!, null!, null!];
    }

    private static Tensor Materialize(Tensor? gradient, Tensor like, Tensor logits) =>
        gradient is null || gradient.IsInvalid
            ? zeros(like.shape, dtype: logits.dtype, device: logits.device)
            : gradient;
}

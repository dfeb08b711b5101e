using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

internal static partial class FusedPolicyLoss
{
    /// <summary>
    /// The autograd node: forward runs the kernel, backward hands over (or scales) the cached gradients. Backward must
    /// not throw (an exception would cross the native callback and end the process) and reads only the state.
    /// </summary>
    private sealed class FusedFunction : autograd.SingleTensorFunction<FusedFunction>
    {
        public override string Name => "LuffyFusedMixedPolicyLoss";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var state = (State)vars[2];
            ctx.save_data("state", state);
            return state.Run();
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
        {
            var state = (State)ctx.get_data("state");
            Tensor gradLogProbs = state.GradientFor(grad_output);
            Tensor? gradEntropy = state.NeedsEntropyGradient ? state.GradEntropy(grad_output) : null;
            state.BackwardDone();
            grad_output.Dispose(); // TorchSharp's wrapper for this call; nothing reads it afterwards
            return [gradLogProbs, gradEntropy!, null!];
        }
    }
}

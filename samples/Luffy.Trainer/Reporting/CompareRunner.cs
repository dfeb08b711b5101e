using Luffy.Trainer.Model;
using Luffy.Trainer.Training;
using static TorchSharp.torch;

namespace Luffy.Trainer.Reporting;

public static class CompareRunner
{
    public static int Run(TrainerOptions options, TaskData data, TinyTransformer baseModel, Device device, CancellationToken cancel) => throw new NotImplementedException();
}
